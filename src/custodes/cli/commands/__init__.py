"""The CLI's commands, one module per group; ``custodes.cli.app`` registers them."""
