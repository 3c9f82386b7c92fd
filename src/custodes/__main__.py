"""``python -m custodes``: the ``custodes`` command."""

from custodes.cli.start import main

if __name__ == "__main__":  # pragma: no cover
    main()
