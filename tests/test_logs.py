import pytest

from amed import logs


@pytest.mark.parametrize("json_lines", [False, True])
def test_a_logged_exception_never_prints_the_locals_of_its_frames(
    capsys: pytest.CaptureFixture[str], json_lines: bool
) -> None:
    logs.configure(json_lines=json_lines)

    def fail() -> None:
        alert_url = "slack://T1/B2/hunter2token"
        raise ValueError(f"boom ({len(alert_url)} chars)")

    try:
        fail()
    except ValueError:
        logs.get().exception("pass_failed")
    err = capsys.readouterr().err
    assert "pass_failed" in err and "ValueError" in err
    assert "hunter2token" not in err
