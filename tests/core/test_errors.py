"""custodes.core.errors: errors name the input they concern; each front door renders it."""

from __future__ import annotations

import pickle

from custodes.core.errors import CustodesError, InvalidInput, ReasonRequired


def test_a_field_error_renders_its_fields_for_each_front_door() -> None:
    err = InvalidInput("{end} 3 must be after {start} 5", fields=("end", "start"))
    assert err.field == "end" and err.fields == ("end", "start")
    assert str(err) == "end 3 must be after start 5"
    assert err.render(lambda f: f"--{f}") == "--end 3 must be after --start 5"
    assert err.render(lambda f: f"body.{f}") == "body.end 3 must be after body.start 5"


def test_only_declared_fields_are_rendered() -> None:
    """User text in a message that happens to look like a field stays as it was."""
    err = InvalidInput("requester '{start}' must be printable; see {requester}", field="requester")
    assert (
        err.render(lambda f: f"--{f}") == "requester '{start}' must be printable; see --requester"
    )


def test_advice_is_rendered_the_same_way() -> None:
    err = ReasonRequired("flagged: state a reason ({reason})", field="reason", advice="{reason}")
    assert err.render_advice(lambda f: "--" + f) == "--reason"
    assert "hint: reason" in err.diagnostics()


def test_an_error_without_fields_is_plain() -> None:
    err = CustodesError("no {such} field\n  here")
    assert err.field is None and str(err) == "no {such} field here"


def test_errors_survive_pickling_as_their_message() -> None:
    """Workers hand errors back across processes."""
    err = pickle.loads(pickle.dumps(InvalidInput("{limit} must be positive", field="limit")))
    assert isinstance(err, InvalidInput) and str(err) == "limit must be positive"
