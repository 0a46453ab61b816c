"""Local development setup for the codec: a key and an operator token under data/keys/.

`make run` calls `prepare_dev_codec(settings.data_dir)` once, exports the returned variables
to the worker, API and codec server it starts, and prints `sign_in_help(...)`.
"""

from __future__ import annotations

from pathlib import Path

from codec.keys import ensure_dev_key
from codec.sessions import ensure_dev_operator_token


def prepare_dev_codec(data_dir: Path) -> dict[str, str]:
    """Create the development key and operator token if missing; return env vars to export.

    Variables already set in the environment win (the caller merges them under os.environ).
    """
    return {
        "CAREPATH_CODEC_KEY_FILE": str(ensure_dev_key(data_dir)),
        "CAREPATH_OPERATOR_TOKEN_FILE": str(ensure_dev_operator_token(data_dir)),
    }


def sign_in_help(*, codec_url: str, ui_url: str, token_file: Path) -> str:
    """What `make run` prints so an operator can read decrypted payloads in the UI and CLI."""
    return "\n".join(
        [
            "Payloads are encrypted. To read them:",
            f"  Web UI: sign in at {codec_url}/login with the operator token in {token_file};",
            f"          then in {ui_url}, open the codec settings (the data encoder icon),",
            "          choose your browser setting, endpoint "
            f"{codec_url}, and turn on 'Include cross-origin credentials'.",
            f"  CLI:    temporal workflow show -w <id> --codec-endpoint {codec_url} "
            f'--codec-auth "Bearer $(cat {token_file})"',
        ]
    )
