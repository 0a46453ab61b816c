"""`NAME_FILE=/path` for every setting `NAME`: the value is read from the file.

Compose and Kubernetes mount secrets as files (`/run/secrets/...`); a secret passed as an
environment variable stays readable in the container's configuration for good. Any
settings class that lists `FileVariantsSource` among its sources accepts, for each field,
`<its environment name>_FILE`; a variable set directly still wins.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from pydantic import AliasChoices
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource

FILE_SUFFIX = "_FILE"


def field_env_names(settings_cls: type[BaseSettings], field_name: str) -> list[str]:
    """The environment names pydantic-settings reads a field from (upper case)."""
    field = settings_cls.model_fields[field_name]
    alias = field.validation_alias
    if isinstance(alias, AliasChoices):
        return [c.upper() for c in alias.choices if isinstance(c, str)]
    if isinstance(alias, str):
        return [alias.upper()]
    prefix = str(settings_cls.model_config.get("env_prefix") or "")
    return [(prefix + field_name).upper()]


class FileVariantsSource(PydanticBaseSettingsSource):
    """Reads `<ENV NAME>_FILE` for each field; the file's text, without its trailing newline."""

    def get_field_value(self, _field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        environ = {k.upper(): v for k, v in os.environ.items()}
        for name in field_env_names(self.settings_cls, field_name):
            path = environ.get(name + FILE_SUFFIX)
            if path:
                return Path(path).read_text(encoding="utf-8").strip(), name, False
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        values: dict[str, Any] = {}
        for field_name, field in self.settings_cls.model_fields.items():
            value, name, _ = self.get_field_value(field, field_name)
            if value is None:
                continue
            if self.field_is_complex(field):
                value = self.decode_complex_value(field_name, field, value)
            # Aliased fields are keyed by the alias they were read through.
            values[name if field.validation_alias else field_name] = value
        return values


def with_file_variants(
    settings_cls: type[BaseSettings],
    init_settings: PydanticBaseSettingsSource,
    env_settings: PydanticBaseSettingsSource,
    dotenv_settings: PydanticBaseSettingsSource,
    file_secret_settings: PydanticBaseSettingsSource,
) -> tuple[PydanticBaseSettingsSource, ...]:
    """The default sources, then `_FILE` variants (for `settings_customise_sources`)."""
    return (
        init_settings,
        env_settings,
        dotenv_settings,
        FileVariantsSource(settings_cls),
        file_secret_settings,
    )


class FileVariantSettings(BaseSettings):
    """Settings whose every field also reads `<NAME>_FILE` (secrets mounted as files)."""

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Every setting also reads `<NAME>_FILE` (secrets mounted as files)."""
        return with_file_variants(
            settings_cls, init_settings, env_settings, dotenv_settings, file_secret_settings
        )
