"""Guards for where things live: facts and modules that could drift as the house grows."""

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_no_module_of_ours_shadows_the_standard_library():
    """`cnn_core/inspect.py` once did: inside the package, `import inspect` meant ours, not Python's."""
    ours = {p.stem for folder in ("cnn_core", "cnn_lab_ui") for p in (ROOT / folder).glob("*.py")}
    assert not ours & set(sys.stdlib_module_names), sorted(ours & set(sys.stdlib_module_names))


# --- session state: cnn_lab_ui/state.py is the one home of every non-widget key -------------------

UI_FILES = sorted((ROOT / "pages").glob("*.py")) + sorted((ROOT / "cnn_lab_ui").glob("*.py")) + [ROOT / "app.py"]
_LITERAL_KEY = re.compile(
    r"""session_state\s*(?:\[|\.get\(|\.pop\(|\.setdefault\()\s*(["'])(?P<a>[^"']+)\1"""  # st.session_state["x"]
    r"""|(["'])(?P<b>[^"']+)\3\s+(?:not\s+)?in\s+(?:st\.)?session_state"""  # "x" in st.session_state
    r"""|session_state\.(?!get\b|pop\b|setdefault\b|keys\b|items\b|values\b|update\b|clear\b)(?P<c>\w+)"""  # .x
)
_WIDGET_KEY = re.compile(r"""\bkey=(["'])([^"']+)\1""")


def _slots():
    from cnn_lab_ui import state

    return [v for v in vars(state).values() if isinstance(v, state.Slot)]


def _widget_keys() -> set[str]:
    from cnn_lab_ui import drawing

    keys = {m.group(2) for f in UI_FILES for m in _WIDGET_KEY.finditer(f.read_text())}
    return keys | {drawing.CANVAS_KEY}


def test_state_lists_every_session_key_it_holds():
    from cnn_lab_ui import state

    slots = _slots()
    assert len({s.key for s in slots}) == len(slots), "two slots share a key"
    for slot in slots:
        assert f"\n  {slot.key} " in state.__doc__, f"{slot.key} is missing from cnn_lab_ui/state.py's docstring"
    assert not {s.key for s in slots} & _widget_keys(), "a widget uses a slot's key"


def test_pages_and_ui_modules_use_only_widget_keys_raw():
    """Any other session key is read and written through state.py's Slots (state.LAST_DRAWING.get(), ...)."""
    from cnn_core import config

    # The Train form's widgets, whose keys it builds from the field names: train_<field>, train_preset.
    form = {f"train_{name}" for name in config.PARAMS} | {"train_preset"}
    widgets = _widget_keys() | form
    raw = []
    for f in UI_FILES:
        if f.name == "state.py" and f.parent.name == "cnn_lab_ui":
            continue
        for m in _LITERAL_KEY.finditer(f.read_text()):
            key = m.group("a") or m.group("b") or m.group("c")
            if key not in widgets:
                raw.append(f"{f.relative_to(ROOT)}: {key}")
    assert not raw, f"raw non-widget session keys outside cnn_lab_ui/state.py: {raw}"


# --- errors: every error the engine raises for a user is an errors.UserError ---------------------

def test_every_engine_error_class_is_a_user_error():
    """The CLI and the pages catch UserError alone, so an engine error outside it would be a raw traceback.

    Exempt: private classes (runs._Bad never leaves its module) and files.UnsafeFileError, an OSError on
    purpose: the callers that read files catch OSError, and runs wraps it in a RunError for the user.
    """
    import importlib
    import inspect

    from cnn_core.errors import UserError

    exempt = {"files.UnsafeFileError"}
    found, outside = [], []
    for path in sorted((ROOT / "cnn_core").glob("*.py")):
        if path.stem == "__main__":  # importing it runs the CLI
            continue
        module = importlib.import_module(f"cnn_core.{path.stem}")
        for name, cls in vars(module).items():
            if not (inspect.isclass(cls) and cls.__module__ == module.__name__ and name.endswith("Error")):
                continue
            if name.startswith("_") or f"{path.stem}.{name}" in exempt:
                continue
            found.append(name)
            if not issubclass(cls, UserError):
                outside.append(f"{path.stem}.{name}")
    assert "RunError" in found and "UsageError" in found, found  # the scan sees the engine's classes
    assert not outside, f"engine errors that are not UserErrors: {outside}"


# --- job states: cnn_core/states.py spells them; everyone else compares with its constants --------

def test_only_states_py_spells_the_job_states():
    """A comparison with a bare "finished" would silently never match if a state were renamed."""
    from cnn_core import states

    names = "|".join(re.escape(v) for k, v in vars(states).items() if k.isupper() and isinstance(v, str))
    quoted = rf"""["'](?:{names})["']"""
    compared = re.compile(rf"""(?:==|!=|\bin\b|\bstate=)\s*[(\[{{]?\s*{quoted}|{quoted}\s*(?:==|!=|,\s*{quoted})""")
    files = [ROOT / "app.py", *(p for folder in ("cnn_core", "cnn_lab_ui", "pages", "bench", "tools")
                                for p in sorted((ROOT / folder).glob("*.py")))]
    offenders = [f"{path.relative_to(ROOT)}:{i}: {line.strip()}" for path in files if path.name != "states.py"
                 for i, line in enumerate(path.read_text().splitlines(), 1) if compared.search(line)]
    assert offenders == [], "compare with cnn_core.states' constants (training.FINISHED, ...)"


# --- datasets and environment variables: one home each ------------------------------------------

APP_CODE = [ROOT / "app.py", *(p for folder in ("cnn_core", "cnn_lab_ui", "pages", "tools")
                               for p in sorted((ROOT / folder).glob("*.py")))]


def _quoted(path: Path, words) -> list[str]:
    spelled = re.compile(r"""["'](?:%s)["']""" % "|".join(re.escape(w) for w in words))
    return [f"{path.relative_to(ROOT)}:{i}: {line.strip()}"
            for i, line in enumerate(path.read_text().splitlines(), 1) if spelled.search(line)]


def test_only_the_registry_spells_a_dataset():
    """A page that says "Fashion-MNIST" or defaults to "mnist" by hand would not follow a new dataset."""
    from cnn_core import datasets

    words = {w for d in datasets.REGISTRY.values() for w in (d.name, d.title, d.label, d.npz_file, d.keras_loader)}
    offenders = [o for path in APP_CODE if path.name != "datasets.py" for o in _quoted(path, words)]
    assert offenders == [], "read cnn_core.datasets (datasets.MNIST.name, info.label, ...)"


def test_the_data_and_runs_folder_variables_are_spelled_once():
    from cnn_core import data, runs

    homes = {data.DATA_DIR_ENV: "data.py", data.NO_DOWNLOAD_ENV: "data.py", runs.RUNS_DIR_ENV: "runs.py"}
    files = [*APP_CODE, *sorted((ROOT / "bench").glob("*.py")), ROOT / "tests" / "conftest.py"]
    offenders = [o for name, home in homes.items() for path in files
                 if not (path.name == home and path.parent.name == "cnn_core") for o in _quoted(path, [name])]
    assert offenders == [], "use data.DATA_DIR_ENV, data.NO_DOWNLOAD_ENV or runs.RUNS_DIR_ENV"


# --- README: its Layout section names every module ------------------------------------------------

def test_readme_layout_names_every_module():
    """A new module in cnn_core/ or cnn_lab_ui/ gets its line in README's Layout, and a gone one leaves it."""
    text = (ROOT / "README.md").read_text()
    layout = text.split("\n## Layout\n", 1)[1].split("\n## ", 1)[0]
    stems = {p.stem for folder in ("cnn_core", "cnn_lab_ui") for p in (ROOT / folder).glob("*.py")}
    stems -= {"__init__", "__main__"}
    assert stems, "no modules found"
    missing = sorted(s for s in stems if f"`{s}`" not in layout)
    assert not missing, f"README's Layout section does not name: {missing}"
    # And no module it names in backticks is gone (a lower-case identifier that is no file of ours).
    named = set(re.findall(r"`([a-z][a-z0-9_]*)`", layout))
    gone = sorted(named - stems - {"cnn_core", "train"})  # the package, the CLI's `train` command
    assert not gone, f"README's Layout section names modules that do not exist: {gone}"
