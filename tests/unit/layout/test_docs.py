"""The docs name only what exists: commands, paths, pipelines, steps, artifacts, links.

README.md and every docs/*.md are read as markdown. What they quote as code (inline spans and
fenced blocks) is checked against the tree:

- `run.py <command>` against the click commands of run.py (and a group's subcommands);
- `make <target>` against the Makefile's targets;
- repository paths (`configs/...`, `retail_mlops/...`, ...) and dotted modules
  (`retail_mlops.x.y`, `bench.forecasting`, `pipelines.p.p`) against the files;
- backticked pipeline-like names (`*_training`, `*_inference`, ...) against pipelines/;
- backticked step-like names (`verb_object` with a step's verb) against the step modules under
  steps/ and the step ids the pipelines give, unless the name is an artifact, a parameter or a
  config key;
- the README's pipeline map (the block after `<!-- pipeline map`): each pipeline's steps are the
  steps it calls, each artifact is a name of `retail_mlops.names.A`, and each step's outputs are
  the ones its return annotation declares;
- the README's project tree (the block after `<!-- project tree`): every entry exists;
- relative markdown links (and their #anchors) resolve.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import click
import pytest
import yaml

from retail_mlops.names import A

ROOT = Path(__file__).resolve().parents[3]
README = ROOT / "README.md"
DOC_FILES = [README, *sorted((ROOT / "docs").glob("*.md"))]
MAX_README_LINES = 250

# --- markdown --------------------------------------------------------------------------------

FENCE = re.compile(r"^(`{3,}|~{3,})\s*([\w-]*)\s*$")
MARKER = re.compile(r"^<!--\s*(.*?)\s*-->\s*$")


@dataclass
class Block:
    """A fenced code block: its info string, body, and the HTML comment just above it."""

    info: str
    body: str
    marker: str = ""


@dataclass
class Doc:
    """A markdown file split into prose (fences removed), inline code spans and blocks."""

    path: Path
    text: str
    prose: str = ""
    spans: list[str] = field(default_factory=list)
    blocks: list[Block] = field(default_factory=list)

    def code(self, *, skip_marker: str = "") -> list[str]:
        """Every piece of quoted code: spans, then blocks (optionally without marked ones)."""
        bodies = [
            b.body for b in self.blocks if not (skip_marker and b.marker.startswith(skip_marker))
        ]
        return self.spans + bodies

    def marked(self, marker: str) -> list[Block]:
        return [b for b in self.blocks if b.marker.startswith(marker)]


def parse(path: Path, text: str | None = None) -> Doc:
    """Split a markdown text into prose, inline spans and fenced blocks."""
    text = path.read_text() if text is None else text
    doc = Doc(path, text)
    prose: list[str] = []
    lines = text.splitlines()
    i = 0
    last_marker = ""
    while i < len(lines):
        line = lines[i]
        m = FENCE.match(line)
        if m:
            fence, info = m.group(1), m.group(2)
            body: list[str] = []
            i += 1
            while i < len(lines) and not lines[i].startswith(fence):
                body.append(lines[i])
                i += 1
            doc.blocks.append(Block(info, "\n".join(body), last_marker))
            last_marker = ""
        else:
            marker = MARKER.match(line)
            if marker:
                last_marker = marker.group(1)
            elif line.strip():
                last_marker = ""
            prose.append(line)
        i += 1
    doc.prose = "\n".join(prose)
    doc.spans = [
        " ".join(s.split()) for _, s in re.findall(r"(`+)(.+?)\1", doc.prose, flags=re.DOTALL)
    ]
    return doc


def docs() -> list[Doc]:
    return [parse(p) for p in DOC_FILES]


# --- what the tree holds ---------------------------------------------------------------------


def _is_decorated(node: ast.FunctionDef, name: str) -> bool:
    for d in node.decorator_list:
        target = d.func if isinstance(d, ast.Call) else d
        if isinstance(target, ast.Name) and target.id == name:
            return True
    return False


@cache
def step_modules() -> dict[str, Path]:
    """Step name -> its module (steps/<stage>/<name>.py)."""
    return {
        p.stem: p
        for p in sorted((ROOT / "steps").rglob("*.py"))
        if p.name != "__init__.py" and p.relative_to(ROOT).as_posix() != "steps/client.py"
    }


@cache
def step_function(name: str) -> ast.FunctionDef:
    tree = ast.parse(step_modules()[name].read_text())
    return next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == name)


def _artifact_name(node: ast.expr) -> str | None:
    """`A.X` -> its value; a string literal -> '' (a name outside A); else None."""
    if isinstance(node, ast.Attribute) and getattr(node.value, "id", None) == "A":
        return str(A[node.attr])
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return ""
    if isinstance(node, ast.Call):  # ArtifactConfig(name=A.X, ...)
        for kw in node.keywords:
            if kw.arg == "name":
                return _artifact_name(kw.value)
    return None


@cache
def step_outputs(name: str) -> tuple[frozenset[str], bool]:
    """The A names a step's return annotation declares, and whether it has others too."""
    named: set[str] = set()
    other = False
    returns = step_function(name).returns
    for node in ast.walk(returns) if returns is not None else []:
        if (
            isinstance(node, ast.Subscript)
            and isinstance(node.value, ast.Name)
            and node.value.id == "Annotated"
            and isinstance(node.slice, ast.Tuple)
        ):
            found = _artifact_name(node.slice.elts[1])
            if found:
                named.add(found)
            elif found == "":
                other = True
    return frozenset(named), other


@dataclass(frozen=True)
class PipelineInfo:
    """A pipeline: the step functions it calls, and the step ids it gives them."""

    name: str
    calls: frozenset[str]
    ids: tuple[tuple[str, str], ...]  # (id regex, step function)


def _id_pattern(node: ast.expr) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return re.escape(node.value)
    if isinstance(node, ast.JoinedStr):
        return "".join(
            re.escape(v.value) if isinstance(v, ast.Constant) else r"\d+" for v in node.values
        )
    return None


@cache
def pipelines() -> dict[str, PipelineInfo]:
    out = {}
    steps = set(step_modules())
    for path in sorted((ROOT / "pipelines").glob("*.py")):
        for node in ast.parse(path.read_text()).body:
            if not (isinstance(node, ast.FunctionDef) and _is_decorated(node, "pipeline")):
                continue
            calls, ids = set(), []
            for call in ast.walk(node):
                if not (isinstance(call, ast.Call) and isinstance(call.func, ast.Name)):
                    continue
                if call.func.id not in steps:
                    continue
                calls.add(call.func.id)
                for kw in call.keywords:
                    pattern = _id_pattern(kw.value) if kw.arg == "id" else None
                    if pattern:
                        ids.append((pattern, call.func.id))
            out[node.name] = PipelineInfo(node.name, frozenset(calls), tuple(ids))
    return out


def resolve_step(token: str) -> str | None:
    """The step function a step name or step id stands for, if any."""
    if token in step_modules():
        return token
    for info in pipelines().values():
        for pattern, function in info.ids:
            if re.fullmatch(pattern, token):
                return function
    return None


def _yaml_keys(node: object) -> set[str]:
    if isinstance(node, dict):
        keys = {str(k) for k in node}
        for v in node.values():
            keys |= _yaml_keys(v)
        return keys
    if isinstance(node, list):
        return set().union(*(_yaml_keys(v) for v in node)) if node else set()
    return set()


@cache
def not_step_names() -> frozenset[str]:
    """Names that may look like steps but are artifacts, parameters or config keys."""
    names = {str(a) for a in A} | set(NOT_STEPS)
    for name in step_modules():
        fn = step_function(name)
        names |= {a.arg for a in fn.args.args + fn.args.kwonlyargs}
    for path in (ROOT / "pipelines").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef):
                names |= {a.arg for a in node.args.args + node.args.kwonlyargs}
    for path in (ROOT / "configs").rglob("*.yaml"):
        names |= _yaml_keys(yaml.safe_load(path.read_text()))
    return frozenset(names)


@cache
def cli_commands() -> dict[str, click.Command]:
    import run  # only click at the top: fast, no ZenML

    return dict(run.cli.commands)


@cache
def make_targets() -> frozenset[str]:
    text = (ROOT / "Makefile").read_text()
    return frozenset(re.findall(r"^([A-Za-z][\w-]*)\s*:(?!=)", text, flags=re.MULTILINE))


# --- checks: each returns the problems it finds in one doc -------------------------------------

TREE = "project tree"
MAP = "pipeline map"
IDENT = re.compile(r"[a-z][a-z0-9_]*")
PIPELINE_LIKE = re.compile(
    r"[a-z]+(?:_[a-z]+)*_(?:training|inference|forecasting|materialization|monitoring|scoring)"
)
EXTRA_VERBS = {
    "apply", "clean", "collect", "compare", "create", "detect", "estimate", "export", "extract",
    "generate", "ingest", "join", "merge", "monitor", "notify", "prepare", "process", "publish",
    "read", "register", "rollback", "run", "save", "score", "select", "serve", "transform",
    "update", "upsert",
}  # fmt: skip
# Backticked words that look like steps but are values the library writes (checked below).
NOT_STEPS = {
    "backtest_choice": "retail_mlops/forecasting/backtest.py",  # a forecast row's `reason`
}
PATH_ROOTS = (
    "configs|steps|retail_mlops|bench|bentos|pipelines|docs|scripts|feature_repo|tests"
    r"|materializers|docker|\.ci"
)
PATH = re.compile(rf"(?<![\w./$-])((?:{PATH_ROOTS})/[\w./*<>{{}}-]*)")
DOTTED = re.compile(
    r"(?<![\w./-])((?:retail_mlops|steps|pipelines|bench|scripts|configs|bentos|materializers)"
    r"(?:\.\w+)+)"
)
RUN_PY = re.compile(r"(?:^|[\s`])run\.py\s+([A-Za-z][\w-]*)(?:\s+([A-Za-z][\w-]*))?")
MAKE = re.compile(r"(?:^|[\s`;(])make\s+([a-z][\w-]*)")
LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)\)")


@cache
def step_verbs() -> frozenset[str]:
    return frozenset({n.split("_")[0] for n in step_modules()} | EXTRA_VERBS)


def check_run_commands(doc: Doc) -> list[str]:
    problems = []
    commands = cli_commands()
    for code in doc.code(skip_marker=TREE):
        for line in code.splitlines() or [code]:
            for cmd, sub in RUN_PY.findall(line):
                if cmd not in commands:
                    problems.append(f"run.py {cmd}: no such command")
                    continue
                group = commands[cmd]
                if isinstance(group, click.Group) and sub and sub not in group.commands:
                    problems.append(f"run.py {cmd} {sub}: no such subcommand")
    return problems


def check_make_targets(doc: Doc) -> list[str]:
    return [
        f"make {target}: no such Makefile target"
        for code in doc.code()
        for target in MAKE.findall(code)
        if target not in make_targets()
    ]


def _path_exists(raw: str) -> bool:
    path = raw.rstrip(".,:;")
    cut = min((path.index(c) for c in "<{" if c in path), default=None)
    if cut is not None:  # a placeholder (configs/<pipeline>.yaml): check the folder before it
        path = path[:cut].rsplit("/", 1)[0]
    if "*" in path:
        return any(ROOT.glob(path))
    return (ROOT / path).exists()


def _dotted_exists(dotted: str) -> bool:
    parts = dotted.split(".")
    for n in range(len(parts), 0, -1):
        base = ROOT.joinpath(*parts[:n])
        module = base.with_suffix(".py") if base.with_suffix(".py").is_file() else None
        if module is None and not base.is_dir():
            continue
        rest = parts[n:]
        if not rest:
            return True
        if module is None or len(rest) > 1:
            return False
        tree = ast.parse(module.read_text())
        defined = set()
        for node in tree.body:
            if isinstance(node, ast.FunctionDef | ast.ClassDef | ast.AsyncFunctionDef):
                defined.add(node.name)
            elif isinstance(node, ast.Assign):
                defined |= {t.id for t in node.targets if isinstance(t, ast.Name)}
        return rest[0] in defined
    return False


def check_paths(doc: Doc) -> list[str]:
    problems = []
    for code in doc.code():
        problems += [f"{p}: no such path" for p in PATH.findall(code) if not _path_exists(p)]
        problems += [f"{d}: no such module" for d in DOTTED.findall(code) if not _dotted_exists(d)]
    return problems


def check_names(doc: Doc) -> list[str]:
    """Backticked pipeline-like and step-like names must exist."""
    problems = []
    verbs = step_verbs()
    for span in doc.spans:
        if not IDENT.fullmatch(span):
            continue
        if PIPELINE_LIKE.fullmatch(span) and span not in pipelines():
            problems.append(f"{span}: no such pipeline in pipelines/")
        elif (
            "_" in span
            and span.split("_")[0] in verbs
            and span not in not_step_names()
            and resolve_step(span) is None
        ):
            problems.append(f"{span}: no such step (steps/**/{span}.py) or step id")
    return problems


def _tokens(text: str) -> tuple[list[str], bool]:
    """Artifact names in one side of a map line, and whether it had bracketed descriptions."""
    bare = re.sub(r"\([^)]*\)", " ", text)
    return [t for t in re.split(r"[\s,]+", bare) if t], bare != text


def check_pipeline_map(doc: Doc) -> list[str]:
    problems: list[str] = []
    artifacts = {str(a) for a in A}
    for block in doc.marked(MAP):
        listed: dict[str, set[str]] = {}
        current: str | None = None
        steps: list[tuple[str, str, list[str]]] = []  # token, function, output texts
        last_out: list[str] | None = None
        for raw in block.body.splitlines():
            line = raw.split("#", 1)[0].rstrip()
            if not line.strip():
                continue
            if not line[0].isspace():  # a pipeline header
                current = line.split()[0]
                if current not in pipelines():
                    problems.append(f"map: {current}: no such pipeline")
                listed.setdefault(current, set())
                continue
            text = line.strip()
            if text.startswith("->"):
                if last_out is None:
                    problems.append(f"map: {text!r} continues no step")
                    continue
                last_out.append(text[2:])
                continue
            if current is None:
                problems.append(f"map: step line before any pipeline: {text!r}")
                continue
            token, _, rest = text.partition(" ")
            inputs, _, outputs = rest.partition("->")
            function = resolve_step(token)
            if function is None:
                problems.append(f"map: {current}: {token}: no such step or step id")
                last_out = None
                continue
            listed[current].add(function)
            for name in _tokens(inputs)[0]:
                if name not in artifacts:
                    problems.append(f"map: {token}: input {name}: not an artifact name in A")
            last_out = [outputs] if outputs else []
            steps.append((token, function, last_out))
        for token, function, outs in steps:
            names, unnamed = _tokens(" ".join(outs))
            declared, other = step_outputs(function)
            for name in names:
                if name not in artifacts:
                    problems.append(f"map: {token}: output {name}: not an artifact name in A")
            if set(names) != declared:
                problems.append(
                    f"map: {token}: outputs {sorted(names)}, step has {sorted(declared)}"
                )
            if unnamed != other:
                problems.append(f"map: {token}: bracketed outputs must match unnamed outputs")
        for pipeline, info in pipelines().items():
            if pipeline not in listed:
                problems.append(f"map: pipeline {pipeline} is missing")
            elif listed[pipeline] != info.calls:
                missing = sorted(info.calls - listed[pipeline])
                extra = sorted(listed[pipeline] - info.calls)
                problems.append(f"map: {pipeline}: missing steps {missing}, not its steps {extra}")
    return problems


def check_tree(doc: Doc) -> list[str]:
    problems = []
    for block in doc.marked(TREE):
        stack: list[tuple[int, str]] = []
        for line in block.body.splitlines():
            m = re.match(r"^( *)([\w.-]+/?)(?:\s{2,}|$)", line)
            if not m:
                continue
            indent, entry = len(m.group(1)), m.group(2)
            while stack and stack[-1][0] >= indent:
                stack.pop()
            path = "".join(p for _, p in stack) + entry
            if not (ROOT / path).exists():
                problems.append(f"tree: {path}: no such file or folder")
            if entry.endswith("/"):
                stack.append((indent, entry))
    return problems


def _slug(heading: str) -> str:
    text = re.sub(r"[`*_]|\[([^\]]*)\]\([^)]*\)", r"\1", heading).strip().lower()
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def anchors(doc: Doc) -> set[str]:
    seen: dict[str, int] = {}
    out = set()
    for line in doc.prose.splitlines():
        m = re.match(r"^#{1,6}\s+(.*?)\s*#*$", line)
        if not m:
            continue
        slug = _slug(m.group(1))
        n = seen.get(slug, 0)
        seen[slug] = n + 1
        out.add(slug if n == 0 else f"{slug}-{n}")
    return out


def check_links(doc: Doc) -> list[str]:
    problems = []
    prose = re.sub(r"(`+).+?\1", "", doc.prose, flags=re.DOTALL)
    for target in LINK.findall(prose):
        if re.match(r"^[a-z]+:", target):  # http:, https:, mailto:
            continue
        path, _, anchor = target.partition("#")
        dest = (doc.path.parent / path).resolve() if path else doc.path
        if not dest.is_relative_to(ROOT) or not dest.exists():
            problems.append(f"link {target}: no such file")
        elif anchor and dest.suffix == ".md" and anchor not in anchors(parse(dest)):
            problems.append(f"link {target}: no such heading")
    return problems


def check_no_machine_paths(doc: Doc) -> list[str]:
    return [
        f"machine-specific path {m}"
        for m in re.findall(r"(?<![\w.])/(?:work|home|Users|root|mnt)/\S*", doc.text)
    ]


CHECKS = [
    check_run_commands,
    check_make_targets,
    check_paths,
    check_names,
    check_pipeline_map,
    check_tree,
    check_links,
    check_no_machine_paths,
]


# --- tests ------------------------------------------------------------------------------------


def test_readme_is_a_short_front_door() -> None:
    lines = README.read_text().splitlines()
    assert len(lines) <= MAX_README_LINES, f"README.md has {len(lines)} lines"


@pytest.mark.parametrize("check", CHECKS, ids=lambda c: c.__name__)
@pytest.mark.parametrize("path", DOC_FILES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_docs_name_only_what_exists(path: Path, check: Callable[[Doc], list[str]]) -> None:
    assert check(parse(path)) == []


def test_readme_holds_the_map_and_the_tree_and_links_every_page() -> None:
    readme = parse(README)
    assert len(readme.marked(MAP)) == 1
    assert len(readme.marked(TREE)) == 1
    linked = {
        (ROOT / t.partition("#")[0]).resolve() for t in LINK.findall(readme.prose) if ":" not in t
    }
    assert [p.name for p in DOC_FILES[1:] if p.resolve() not in linked] == []


def test_the_checks_see_what_they_check() -> None:
    """The docs quote enough for the checks to mean something."""
    all_code = [c for d in docs() for c in d.code()]
    assert sum(len(RUN_PY.findall(c)) for c in all_code) >= 10
    assert sum(len(MAKE.findall(c)) for c in all_code) >= 5
    assert sum(len(PATH.findall(c)) for c in all_code) >= 30
    assert {"churn_training", "demand_forecasting", "deployment"} <= set(pipelines())
    assert resolve_step("forecast_prophet_shard_1") == "forecast_prophet_shard"
    assert step_outputs("validate_transactions") == (
        frozenset({"transactions", "quarantine"}),
        False,
    )


def test_words_allowed_as_not_steps_are_real() -> None:
    assert [w for w, home in NOT_STEPS.items() if f'"{w}"' not in (ROOT / home).read_text()] == []


BAD_DOC = """\
# Bad

Run `uv run python run.py churn_trainer` or `make runn`; see `steps/serving/_process.py` and
`retail_mlops.features.feast_store.no_such_function`. The `churn_scoring` pipeline runs
`build_churn_dataset` and `build_scoring_features`. See [data](docs/nope.md) and
[churn](docs/churn.md#no-such-heading).

<!-- pipeline map -->
```text
churn_batch_inference
  load_champion_model          (churn_classifier@champion)
                               -> model, reference_features, reference_predictions
  build_scoring_features       transactions                 -> scoring_features
  predict_churn                model, scoring_table         -> predictions
```

<!-- project tree -->
```text
steps/
  serving/
    _process.py      gone
```
"""


def test_the_checks_catch_wrong_names() -> None:
    doc = parse(ROOT / "BAD.md", BAD_DOC)
    problems = " | ".join(p for check in CHECKS for p in check(doc))
    for expected in (
        "run.py churn_trainer",
        "make runn",
        "steps/serving/_process.py: no such path",
        "feast_store.no_such_function: no such module",
        "churn_scoring: no such pipeline",
        "build_churn_dataset: no such step",
        "build_scoring_features: no such step",
        "link docs/nope.md",
        "no-such-heading: no such heading",
        "build_scoring_features: no such step or step id",
        "input scoring_table: not an artifact name",
        "map: load_champion_model: outputs",
        "map: churn_batch_inference: missing steps",
        "pipeline churn_training is missing",
        "tree: steps/serving/_process.py",
    ):
        assert expected in problems
