"""The user config: a round trip through TOML, the default remote, and 'did you mean'."""

from __future__ import annotations

import pytest

from dlmbuild.errors import DlmError
from dlmbuild.remote.config import Remote, UserConfig, load, render, save


def test_round_trip_keeps_every_remote_and_setting(tmp_path):
    config = UserConfig({"team": Remote("team", "s3://b/p", {"endpoint_url": "http://127.0.0.1:9000", "region_name": "eu"}),
                         "nas": Remote("nas", "file:///mnt/nas/dlm \"quoted\"")}, cache_remote="team", cache_upload=True)
    save(config, tmp_path)
    assert load(tmp_path) == config
    assert render(load(tmp_path)) == render(config)


def test_missing_file_is_an_empty_config(tmp_path):
    assert load(tmp_path) == UserConfig()


def test_unknown_names_get_did_you_mean(tmp_path):
    config = UserConfig({"team": Remote("team", "file:///x")})
    with pytest.raises(DlmError, match=r"unknown remote 'tema' \(did you mean 'team'\?\) \(configured: team\)"):
        config.remote("tema")
    (tmp_path / "config.toml").write_text('[remotes.team]\nurl = "file:///x"\n[cache]\nremote = "tem"\n')
    with pytest.raises(DlmError, match=r"cache.remote names unknown remote 'tem' \(did you mean 'team'\?\)"):
        load(tmp_path)


def test_invalid_toml_is_one_line(tmp_path):
    (tmp_path / "config.toml").write_text("[remotes.team\n")
    with pytest.raises(DlmError, match=r"config.toml: not valid TOML"):
        load(tmp_path)
