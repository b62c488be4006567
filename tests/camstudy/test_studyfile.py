"""One checked study file: every command that reads study.toml refuses a misspelt section,
an unknown key and contradictory settings, naming them; `camstudy check` lists every
problem without loading torch, flask or a database; docs/study-toml.md is the declarations.

Each command is driven through the real entry point (`camstudy.cli.main`), on a real
SQLite database for `import` and `mturk`.
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path += [str(ROOT)]

from camstudy.cli import main  # noqa: E402
from tests.webapp.helpers import build_study  # noqa: E402

DEMO = (ROOT / "generator" / "demo_study.toml").read_text(encoding="utf-8")
# misspelt section -> (the section meant, a line that belongs in it)
MISSPELT = {
    "pair": ("pairs", None),  # the demo's own [pairs] header, misspelt
    "asignment": ("assignment", "pairs_per_participant = 10"),
    "surveys": ("survey", 'title = "Which image?"'),
    "mturks": ("mturk", 'reward = "2.00"'),
    "analysys": ("analysis", "alpha = 0.01"),
}


def misspelt(wrong: str, text: str = DEMO) -> str:
    meant, line = MISSPELT[wrong]
    if line is None:
        return text.replace(f"[{meant}]", f"[{wrong}]")
    return f"{text}\n[{wrong}]\n{line}\n"


def assert_names_section(err: str, wrong: str) -> None:
    meant = MISSPELT[wrong][0]
    assert f"unknown section [{wrong}]; did you mean [{meant}]?" in err, err
    assert "Known sections: [study], [model]" in err and "[analysis]" in err, err


@pytest.fixture(scope="module")
def db_url(tmp_path_factory) -> str:
    from webapp.data.migrate import upgrade

    url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'survey.sqlite3'}"
    upgrade(url)
    return url


def studies_in(url: str) -> list[str]:
    import sqlalchemy as sa

    engine = sa.create_engine(url)
    with engine.connect() as conn:
        ids = [r[0] for r in conn.execute(sa.text("SELECT study_id FROM studies"))]
    engine.dispose()
    return ids


@pytest.fixture(scope="module")
def imported(db_url, tmp_path_factory) -> Path:
    """A valid study (6 pairs, 4 checks) in the database; tests rewrite its study.toml and restore it."""
    d = build_study(tmp_path_factory.mktemp("imported"), n_attention=4, study_id="demo-shapes", toml=DEMO)
    assert main(["import", str(d), "--database-url", db_url]) == 0
    return d


# --- a misspelt section is refused by every command that reads the file ----------------------

@pytest.mark.parametrize("wrong", MISSPELT)
@pytest.mark.parametrize("command", ["generate", "evaluate"])
def test_generator_commands_refuse_a_misspelt_section(tmp_path, capsys, wrong, command):
    path = tmp_path / "study.toml"
    path.write_text(misspelt(wrong))
    assert main([command, str(path)]) == 1
    assert_names_section(capsys.readouterr().err, wrong)
    assert not (tmp_path / "study").exists()  # nothing rendered


@pytest.mark.parametrize("wrong", MISSPELT)
def test_import_refuses_a_misspelt_section_and_stores_nothing(tmp_path, capsys, db_url, wrong):
    d = build_study(tmp_path, study_id=f"misspelt-{wrong}", toml=misspelt(wrong).replace(
        'id = "demo-shapes"', f'id = "misspelt-{wrong}"'))
    assert main(["import", str(d), "--database-url", db_url]) == 1
    assert_names_section(capsys.readouterr().err, wrong)
    assert f"misspelt-{wrong}" not in studies_in(db_url)


@pytest.mark.parametrize("wrong", MISSPELT)
def test_report_refuses_a_misspelt_section(tmp_path, capsys, wrong):
    path = tmp_path / "study.toml"
    path.write_text(misspelt(wrong))
    out = tmp_path / "report"
    assert main(["report", "--responses", str(tmp_path / "responses.csv"), "--config", str(path),
                 "--out", str(out)]) != 0
    assert_names_section(capsys.readouterr().err, wrong)
    assert not out.exists()


@pytest.mark.parametrize("wrong", MISSPELT)
def test_mturk_refuses_a_section_misspelt_after_the_import(capsys, db_url, imported, wrong):
    argv = ["mturk", "cost", "--dry-run", "--study", "demo-shapes", "--database-url", db_url]
    assert main(argv) == 0, capsys.readouterr().err  # the file as imported is fine
    capsys.readouterr()
    try:
        (imported / "study.toml").write_text(misspelt(wrong))
        assert main(argv) == 1
        assert_names_section(capsys.readouterr().err, wrong)
    finally:
        (imported / "study.toml").write_text(DEMO)


@pytest.mark.parametrize("wrong", MISSPELT)
def test_check_refuses_a_misspelt_section(tmp_path, capsys, wrong):
    path = tmp_path / "study.toml"
    path.write_text(misspelt(wrong))
    assert main(["check", str(path)]) == 1
    assert_names_section(capsys.readouterr().err, wrong)


def test_a_misspelt_key_is_refused_with_the_closest_known_key(tmp_path, capsys):
    path = tmp_path / "study.toml"
    path.write_text(DEMO.replace("attention_checks = 4", "attention_check = 4"))
    assert main(["generate", str(path)]) == 1
    err = capsys.readouterr().err
    assert f"{path}: unknown key 'attention_check' in [pairs] (did you mean 'attention_checks'?)" in err, err


def test_a_key_outside_any_section_is_refused(tmp_path, capsys):
    path = tmp_path / "study.toml"
    path.write_text('title = "My study"\n' + DEMO)
    assert main(["check", str(path)]) == 1
    assert 'title = "My study" is outside any section' in capsys.readouterr().err


# --- contradictions, both sides named --------------------------------------------------------

CAP = "[assignment]\nratings_per_pair = 5\nmax_ratings_per_pair = 3\n"
CAP_MESSAGE = "[assignment] max_ratings_per_pair = 3 is below ratings_per_pair = 5"


@pytest.mark.parametrize("command", ["generate", "check"])
def test_a_cap_below_the_target_is_refused(tmp_path, capsys, command):
    path = tmp_path / "study.toml"
    path.write_text(DEMO + CAP)
    assert main([command, str(path)]) == 1
    assert CAP_MESSAGE in capsys.readouterr().err


def test_import_refuses_a_cap_below_the_target(tmp_path, capsys, db_url):
    d = build_study(tmp_path, study_id="capped", toml=CAP)
    assert main(["import", str(d), "--database-url", db_url]) == 1
    assert CAP_MESSAGE in capsys.readouterr().err and "capped" not in studies_in(db_url)


def test_a_cap_below_the_default_target_says_it_is_the_default(tmp_path, capsys):
    path = tmp_path / "study.toml"
    path.write_text("[assignment]\nmax_ratings_per_pair = 2\n")
    assert main(["check", str(path)]) == 1
    assert "max_ratings_per_pair = 2 is below ratings_per_pair = 5 (the default)" in capsys.readouterr().err


@pytest.mark.parametrize("command", ["generate", "check"])
def test_more_per_participant_than_the_file_renders_is_refused(tmp_path, capsys, command):
    path = tmp_path / "study.toml"
    path.write_text(DEMO + "[assignment]\npairs_per_participant = 1000\nattention_checks_per_participant = 50\n")
    assert main([command, str(path)]) == 1
    err = capsys.readouterr().err
    assert "[assignment] pairs_per_participant = 1000 is more than [pairs] n = 40" in err, err
    assert "[assignment] attention_checks_per_participant = 50 is more than [pairs] attention_checks = 4" in err


def test_import_refuses_more_per_participant_than_the_rendered_study(tmp_path, capsys, db_url):
    d = build_study(tmp_path, n_pairs=40, n_attention=4, study_id="too-many",
                    toml="[assignment]\npairs_per_participant = 1000\nattention_checks_per_participant = 50\n")
    assert main(["import", str(d), "--database-url", db_url]) == 1
    err = capsys.readouterr().err
    assert "pairs_per_participant = 1000 is more than the 40 pairs of the rendered study" in err, err
    assert "attention_checks_per_participant = 50 is more than the 4 attention checks of the rendered study" in err
    assert "too-many" not in studies_in(db_url)


def test_check_against_a_rendered_study(tmp_path, capsys):
    d = build_study(tmp_path, n_pairs=6, n_attention=2, study_id="demo-shapes")
    path = tmp_path / "study.toml"
    path.write_text(DEMO + "[assignment]\npairs_per_participant = 8\nattention_checks_per_participant = 3\n")
    assert main(["check", str(path), "--study", str(d)]) == 1
    err = capsys.readouterr().err
    assert "pairs_per_participant = 8 is more than the 6 pairs of the rendered study" in err
    assert "attention_checks_per_participant = 3 is more than the 2 attention checks" in err
    path.write_text(DEMO + "[assignment]\npairs_per_participant = 6\nattention_checks_per_participant = 2\n")
    assert main(["check", str(path), "--study", str(d)]) == 0
    assert f"matches the rendered study in {d}: 6 pairs, 2 attention check(s)" in capsys.readouterr().out


def test_primary_questions_the_survey_does_not_ask_are_refused(tmp_path, capsys):
    path = tmp_path / "study.toml"
    path.write_text(DEMO + '[analysis]\nprimary_questions = ["largest"]\n')
    assert main(["report", "--responses", "x.csv", "--config", str(path), "--out", str(tmp_path / "r")]) != 0
    assert "[analysis] primary_questions names 'largest', which [survey] questions does not have" in \
        capsys.readouterr().err


def test_check_lists_every_problem_at_once(tmp_path, capsys):
    path = tmp_path / "study.toml"
    text = misspelt("pair").replace('colormap = "jet"', 'colour = "jet"')
    path.write_text(text + CAP + "[survey]\nallow_same = 'yes'\n")
    assert main(["check", str(path)]) == 1
    err = capsys.readouterr().err
    assert "unknown section [pair]" in err and CAP_MESSAGE in err
    assert "unknown key 'colour' in [render] (did you mean 'colormap'?)" in err
    assert "[survey] allow_same must be true or false, got 'yes'" in err
    assert "camstudy check: 4 problem(s)" in err


# --- camstudy check: the happy path loads no torch, flask or database -------------------------

def test_check_passes_the_demo_study_without_torch_flask_or_sqlalchemy():
    code = ("import sys; from camstudy.cli import main; rc = main(['check', 'generator/demo_study.toml']); "
            "heavy = sorted({m.split('.')[0] for m in sys.modules} & {'torch', 'torchvision', 'flask', "
            "'sqlalchemy', 'pandas'}); print('HEAVY', heavy); sys.exit(rc)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "generator/demo_study.toml: OK" in out.stdout
    assert "renders 40 pairs and 4 attention check(s)" in out.stdout
    assert "HEAVY []" in out.stdout


# --- the declarations -------------------------------------------------------------------------

def test_the_generator_reads_min_map_difference(tmp_path):
    from generator.settings import ConfigError, load

    path = tmp_path / "study.toml"
    path.write_text(DEMO)
    assert load(path).pairs.min_map_difference == 0.05
    path.write_text(DEMO.replace("[pairs]", "[pairs]\nmin_map_difference = 0.2"))
    assert load(path).pairs.min_map_difference == 0.2
    path.write_text(DEMO.replace("[pairs]", "[pairs]\nmin_map_difference = 1.5"))
    with pytest.raises(ConfigError, match=r"\[pairs\] min_map_difference must be a number from 0 to 1, got 1.5"):
        load(path)


def test_every_key_says_what_it_means():
    from camstudy.studyfile import SECTIONS

    vague = [f"[{s}] {k}" for s, cls in SECTIONS.items() for k, f in cls.model_fields.items()
             if len(f.description or "") < 8]
    assert not vague


def test_docs_are_the_declarations():
    from camstudy import studydocs
    from camstudy.studyfile import SECTIONS

    committed = studydocs.DOCS_PATH.read_text(encoding="utf-8")
    assert committed == studydocs.markdown(), "docs/study-toml.md is stale: run `camstudy check --write-docs`"
    assert [line[5:-1] for line in committed.splitlines() if line.startswith("### [")] == list(SECTIONS)


def test_settings_stored_by_an_earlier_import_are_read_as_accepted_then():
    """A study imported before a rule existed keeps being served: rules refuse files, not live requests."""
    from webapp.settings import Settings, SettingsError, parse_sections

    stored = {"assignment": {"ratings_per_pair": 5, "max_ratings_per_pair": 3}}
    assert Settings.from_dict(stored).assignment["max_ratings_per_pair"] == 3
    with pytest.raises(SettingsError, match="max_ratings_per_pair = 3 is below ratings_per_pair = 5"):
        parse_sections(stored, "study.toml")


def test_check_refuses_a_study_file_of_another_study(tmp_path, capsys):
    d = build_study(tmp_path, study_id="another-study")
    path = tmp_path / "study.toml"
    path.write_text(DEMO)
    assert main(["check", str(path), "--study", str(d)]) == 1
    assert "[study] id = 'demo-shapes', but the rendered study (manifest.json) is study 'another-study'" in \
        capsys.readouterr().err


def test_showing_originals_that_were_not_rendered_is_refused(tmp_path, capsys, db_url):
    path = tmp_path / "study.toml"
    path.write_text(DEMO.replace("[render]", "[render]\nshow_original = false") + "[survey]\nshow_original = true\n")
    assert main(["check", str(path)]) == 1
    assert "[survey] show_original = true, but [render] show_original = false" in capsys.readouterr().err
    d = build_study(tmp_path / "s", study_id="no-originals", toml="[survey]\nshow_original = true\n")
    manifest = (d / "manifest.json").read_text().replace('"show_original": true', '"show_original": false')
    (d / "manifest.json").write_text(manifest)
    assert main(["import", str(d), "--database-url", db_url]) == 1
    assert "[survey] show_original = true, but the rendered study (manifest.json) has no original images" in \
        capsys.readouterr().err
