"""Stacked training: each member ends where its own single run ends, within float tolerance."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest
import torch

from trainlab.build import why_alone
from trainlab.config import as_config
from trainlab.errors import NotStackable
from trainlab.runner import train
from trainlab.runs.rundir import load_run
from trainlab.stacking import train_stacked
from trainlab.training.loop import Callback, Trainer
from trainlab.training.stacked import StackedOptimizer


def _cfg(runs_dir: Path, name: str, **over: object) -> dict:
    cfg = {
        "data": {"name": "digits", "val": 0.2},
        "model": {"hidden": [16]},
        "train": {"epochs": 2},
        "optim": {"batch_size": 64},
        "threads": 1,
        "output": {"dir": str(runs_dir), "name": name, "report": False},
    }
    for key, value in over.items():
        section, _, field = key.partition("__")
        if field:
            cfg.setdefault(section, {})[field] = value
        else:
            cfg[section] = value
    return cfg


def _weights(run) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in run.model.state_dict().items()}


def _close(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor], tol: float = 1e-4) -> None:
    assert a.keys() == b.keys()
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=tol, atol=tol, msg=lambda m, k=k: f"{k}: {m}")


@pytest.mark.parametrize("optim", ["adam", "adamw", "sgd(momentum=0.9,nesterov=true)"])
def test_members_match_their_single_runs(runs_dir: Path, optim: str) -> None:
    members = [
        _cfg(runs_dir, "a", seed=0, optim__lr=1e-2, optim__name=optim),
        _cfg(runs_dir, "b", seed=1, optim__lr=3e-3, optim__weight_decay=1e-3, optim__name=optim),
        _cfg(runs_dir, "c", seed=0, optim__lr=1e-3, optim__name=optim, model__act="tanh"),
    ]
    stacked = train_stacked(members, handle_signals=False)
    for cfg, run in zip(members, stacked, strict=True):
        single = train(
            {**cfg, "output": {**cfg["output"], "name": cfg["output"]["name"] + "-single"}},
            handle_signals=False,
            progress=False,
        )
        assert run.summary["status"] == single.summary["status"] == "completed"
        _close(_weights(run), _weights(single))
        assert len(run.history) == len(single.history) == 2
        for mine, theirs in zip(run.history, single.history, strict=True):
            assert mine.keys() == theirs.keys()
            for key in mine:
                assert mine[key] == pytest.approx(theirs[key], rel=1e-4, abs=1e-5), key
        assert run.summary["test_accuracy"] == pytest.approx(single.summary["test_accuracy"], abs=1e-9)
        back = load_run(run.path)  # an ordinary run directory
        assert back.summary["stacked"]["runs"] == 3
        assert len(back.history) == 2


def test_a_diverging_member_stops_alone(runs_dir: Path) -> None:
    members = [
        _cfg(runs_dir, "ok", optim__lr=1e-3, optim__name="sgd"),
        _cfg(runs_dir, "bad", optim__lr=1e6, optim__name="sgd"),
    ]
    ok, bad = train_stacked(members, handle_signals=False)
    assert bad.summary["status"] == "diverged"
    assert "NaN/Inf guard" in bad.summary["stop_reason"]
    assert ok.summary["status"] == "completed" and len(ok.history) == 2
    single = train(
        {**members[0], "output": {**members[0]["output"], "name": "single"}}, handle_signals=False, progress=False
    )
    _close(_weights(ok), _weights(single))


def test_early_stopping_per_member(runs_dir: Path) -> None:
    members = [
        _cfg(runs_dir, "a", optim__lr=0.0, train__patience=1, train__epochs=4),
        _cfg(runs_dir, "b", optim__lr=1e-2, train__epochs=4),
    ]
    a, b = train_stacked(members, handle_signals=False)
    single = train(
        {**members[0], "output": {**members[0]["output"], "name": "single"}}, handle_signals=False, progress=False
    )
    assert len(a.history) == len(single.history) < 4
    assert a.summary["stop_reason"] == single.summary["stop_reason"]
    assert len(b.history) == 4


def test_ineligible_sets_say_why(runs_dir: Path) -> None:
    assert "dropout" in why_alone([as_config(_cfg(runs_dir, "a", model__dropout=0.2)), as_config(_cfg(runs_dir, "b"))])
    other_batch = as_config(_cfg(runs_dir, "b", optim__batch_size=32))
    assert "optim.batch_size" in why_alone([as_config(_cfg(runs_dir, "a")), other_batch])
    assert why_alone([as_config(_cfg(runs_dir, "a")), as_config(_cfg(runs_dir, "b", seed=3, optim__lr=0.1))]) is None
    with pytest.raises(NotStackable, match="hidden"):
        train_stacked([_cfg(runs_dir, "a"), _cfg(runs_dir, "b", model__hidden=[8])], handle_signals=False)
    assert not list(runs_dir.glob("*"))  # refused before any run directory exists


def test_member_checkpoint_resumes_as_a_single_run(runs_dir: Path) -> None:
    cfg = _cfg(runs_dir, "a", optim__lr=1e-2, train__epochs=3)
    first, _ = train_stacked(
        [{**cfg, "train": {"epochs": 3}}, _cfg(runs_dir, "b", optim__lr=1e-3, train__epochs=3)], handle_signals=False
    )
    # the member's checkpoint after its last epoch holds the same state a single run writes there
    single = train({**cfg, "output": {**cfg["output"], "name": "single"}}, handle_signals=False, progress=False)
    saved = torch.load(first.path / "checkpoint.pt", weights_only=True)
    theirs = torch.load(single.path / "checkpoint.pt", weights_only=True)
    assert saved["step"] == theirs["step"] and saved["epoch"] == theirs["epoch"]
    for key, value in theirs["optimizer"]["state"].items():
        for name in ("exp_avg", "exp_avg_sq"):
            torch.testing.assert_close(saved["optimizer"]["state"][key][name], value[name], rtol=1e-3, atol=1e-6)
        assert float(saved["optimizer"]["state"][key]["step"]) == float(value["step"])
    assert torch.equal(saved["rng"]["generator"], theirs["rng"]["generator"]) if "generator" in theirs["rng"] else True


@pytest.mark.parametrize("kind", ["adam", "adamw", "sgd", "sgd_nesterov"])
@pytest.mark.parametrize("fused", [True, None])
def test_stacked_optimizer_matches_torch_per_member(kind: str, fused: bool | None) -> None:
    torch.manual_seed(0)
    settings = [
        {"lr": 0.01, "weight_decay": 0.0, "betas": (0.9, 0.999), "eps": 1e-8, "momentum": 0.9, "dampening": 0.0},
        {"lr": 0.003, "weight_decay": 0.01, "betas": (0.8, 0.99), "eps": 1e-6, "momentum": 0.0, "dampening": 0.0},
        {"lr": 0.1, "weight_decay": 0.1, "betas": (0.9, 0.999), "eps": 1e-8, "momentum": 0.5, "dampening": 0.3},
    ]
    stacked = [torch.randn(3, 5, 4), torch.randn(3, 1, 4)]
    singles = [[p[k].clone().requires_grad_(True) for p in stacked] for k in range(3)]
    torch_opts = []
    for k, h in enumerate(settings):
        if kind.startswith("sgd"):
            nesterov = kind == "sgd_nesterov" and h["momentum"] > 0
            torch_opts.append(
                torch.optim.SGD(
                    singles[k],
                    lr=h["lr"],
                    weight_decay=h["weight_decay"],
                    momentum=h["momentum"],
                    dampening=0.0 if nesterov else h["dampening"],
                    nesterov=nesterov,
                    fused=fused,
                )
            )
        else:
            cls = torch.optim.Adam if kind == "adam" else torch.optim.AdamW
            torch_opts.append(
                cls(singles[k], lr=h["lr"], weight_decay=h["weight_decay"], betas=h["betas"], eps=h["eps"], fused=fused)
            )
    # twins of the torch optimizers' settings: the stacked update reads each member's group
    groups = [dict(o.param_groups[0]) for o in torch_opts]
    opt = StackedOptimizer("sgd" if kind.startswith("sgd") else kind, stacked, groups)
    for _ in range(5):
        grads = [torch.randn_like(p) for p in stacked]
        opt.step(grads)
        for k, o in enumerate(torch_opts):
            for p, g in zip(singles[k], grads, strict=True):
                p.grad = g[k].clone()
            o.step()
    for k in range(3):
        for p, s in zip(stacked, singles[k], strict=True):
            torch.testing.assert_close(p[k], s.detach(), rtol=0, atol=0)  # the same update on the same numbers


def test_compare_stacks_what_it_can_and_says_so(runs_dir: Path) -> None:
    from trainlab.comparisons import compare, load_comparison

    base = _cfg(runs_dir, "x")
    base["output"].pop("name")
    comp = compare(
        {"optim.lr": [1e-3, 1e-2], "model.dropout": [0.0, 0.3]}, base, out_dir=runs_dir, report=False, progress=False
    )
    assert comp.plan.startswith("stacked 2 runs (optim.lr differ)"), comp.plan
    assert "2 one by one: model.dropout=0.3" in comp.plan, comp.plan
    assert all(m.run is not None and m.run.summary["status"] == "completed" for m in comp.members)
    stacked = [m for m in comp.members if m.params["model.dropout"] == 0.0]
    assert all(m.run.summary["stacked"]["runs"] == 2 for m in stacked)
    single = train(
        {**_cfg(runs_dir, "single"), "optim": {"batch_size": 64, "lr": stacked[1].params["optim.lr"]}},
        handle_signals=False,
        progress=False,
    )
    assert stacked[1].run.summary["test_accuracy"] == pytest.approx(single.summary["test_accuracy"], abs=1e-9)
    assert load_comparison(comp.path).plan == comp.plan
    off = compare({"optim.lr": [1e-3, 1e-2]}, base, out_dir=runs_dir, report=False, progress=False, stack=False)
    assert off.plan == "one by one (stacking off)" and all("stacked" not in m.run.summary for m in off.members)


def test_every_member_diverging_ends_the_group(runs_dir: Path) -> None:
    runs = train_stacked(
        [_cfg(runs_dir, "a", optim__lr=1e6, optim__name="sgd"), _cfg(runs_dir, "b", optim__lr=1e7, optim__name="sgd")],
        handle_signals=False,
    )
    assert [r.summary["status"] for r in runs] == ["diverged", "diverged"]


class _SigintAfterFirstEpoch(Callback):
    def on_epoch_end(self, trainer: Trainer) -> None:
        if trainer.epoch == 1:
            os.kill(os.getpid(), signal.SIGINT)


def test_ctrl_c_stops_every_member_with_a_checkpoint_that_resumes_as_a_single_run(runs_dir: Path) -> None:
    members = [
        _cfg(runs_dir, "a", optim__lr=1e-2, train__epochs=3),
        _cfg(runs_dir, "b", optim__lr=1e-3, seed=1, train__epochs=3),
    ]
    a, b = train_stacked(members, callbacks=[[_SigintAfterFirstEpoch()], []])
    assert a.summary["status"] == b.summary["status"] == "interrupted"
    assert a.summary["interrupted_by"] == "SIGINT" and "checkpoint saved" in a.summary["stop_reason"]
    resumed = train(resume=a.path, handle_signals=False, progress=False)
    single = train(
        {**members[0], "output": {**members[0]["output"], "name": "single"}}, handle_signals=False, progress=False
    )
    assert resumed.summary["status"] == "completed" and len(resumed.history) == 3
    _close(_weights(resumed), _weights(single))


def test_stacks_are_split_by_max_stack_and_a_lone_member_trains_alone(runs_dir: Path) -> None:
    members = [_cfg(runs_dir, n, optim__lr=lr) for n, lr in (("a", 1e-2), ("b", 3e-3), ("c", 1e-3))]
    runs = train_stacked(members, handle_signals=False, max_stack=2)
    assert [r.summary.get("stacked", {}).get("runs") for r in runs] == [2, 2, None]
    single = train(
        {**members[2], "output": {**members[2]["output"], "name": "single"}}, handle_signals=False, progress=False
    )
    _close(_weights(runs[2]), _weights(single), tol=0)
    single = train(
        {**members[1], "output": {**members[1]["output"], "name": "single"}}, handle_signals=False, progress=False
    )
    _close(_weights(runs[1]), _weights(single))


@pytest.mark.parametrize("data, model", [("sine", "mlp"), ("xor", "perceptron"), ("moons", "mlp")])
def test_regression_perceptron_and_samplers_match_single_runs(runs_dir: Path, data: str, model: str) -> None:
    extra = {
        "data": {"name": data, "val": 0.2, **({"sampler": "balanced"} if data == "moons" else {})},
        "model": {"name": model, "hidden": [8]},
    }
    members = [
        {**_cfg(runs_dir, n, optim__lr=lr, seed=seed), **extra} for n, lr, seed in (("a", 1e-2, 0), ("b", 3e-3, 1))
    ]
    runs = train_stacked(members, handle_signals=False)
    for cfg, run in zip(members, runs, strict=True):
        single = train({**cfg, "output": {**cfg["output"], "name": "single"}}, handle_signals=False, progress=False)
        assert run.summary["status"] == single.summary["status"] == "completed"
        _close(_weights(run), _weights(single))
        for key in ("test_loss", "test_accuracy", "test_r2"):
            if key in single.summary:
                assert run.summary[key] == pytest.approx(single.summary[key], rel=1e-4, abs=1e-6), key


def test_cli_compare_says_what_it_stacks_and_no_stack_turns_it_off(
    runs_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from trainlab.cli import main

    common = [
        "optim.lr=0.01,0.001",
        "data.name=digits",
        "model.hidden=[8]",
        "train.epochs=1",
        "threads=1",
        "--out",
        str(runs_dir),
        "--no-report",
    ]
    assert main(["compare", *common]) == 0
    assert "stacked 2 runs (optim.lr differ)" in capsys.readouterr().out
    assert main(["compare", *common, "--no-stack"]) == 0
    assert "one by one (stacking off)" in capsys.readouterr().out


def test_random_sweep_trains_trials_stacked_with_the_same_draws_and_results(tmp_path: Path) -> None:
    from trainlab.sweeps import sweep

    args = [
        "data.name=digits",
        "data.val=0.2",
        "model.hidden=[8]",
        "train.epochs=2",
        "threads=1",
        "output.report=false",
        "optim.lr=loguniform(1e-3,1e-1)",
        "optim.weight_decay=choice(0,0.001)",
    ]
    stacked = sweep(
        None, args, sampler="random", trials=3, seed=5, root=tmp_path, name="stacked", report=False, progress=False
    )
    alone = sweep(
        None,
        args,
        sampler="random",
        trials=3,
        seed=5,
        root=tmp_path,
        name="alone",
        report=False,
        progress=False,
        stack=False,
    )
    assert [t.user_attrs.get("stacked") for t in stacked.trials] == [3, 3, 3]
    assert all("stacked" not in t.user_attrs for t in alone.trials)
    for a, b in zip(stacked.trials, alone.trials, strict=True):
        assert a.params == b.params and a.state == b.state
        assert a.value == pytest.approx(b.value, rel=1e-4, abs=1e-6)


def test_a_member_with_non_finite_gradients_stops_before_the_update_as_its_single_run_does(runs_dir: Path) -> None:
    # lr 1e30: the first step's loss and gradients are finite, the second step's gradients are not;
    # the guard's step pre-hook stops a single run there, before the update, with finite weights
    members = [
        _cfg(runs_dir, "ok", optim__lr=1e-3, optim__name="sgd"),
        _cfg(runs_dir, "bad", optim__lr=1e30, optim__name="sgd"),
    ]
    ok, bad = train_stacked(members, handle_signals=False)
    single = train(
        {**members[1], "output": {**members[1]["output"], "name": "bad-single"}}, handle_signals=False, progress=False
    )
    assert bad.summary["status"] == single.summary["status"] == "diverged"
    assert (
        bad.summary["stop_reason"] == single.summary["stop_reason"]
        and "non-finite gradient" in single.summary["stop_reason"]
    )
    assert bad.summary["steps"] == single.summary["steps"]
    mine, theirs = _weights(bad), _weights(single)
    for key, w in mine.items():  # finite, and equal to float rounding (the weights are ~1e24 after one step at lr 1e30)
        assert torch.isfinite(w).all()
        torch.testing.assert_close(w, theirs[key], rtol=1e-3, atol=1e-6 * float(theirs[key].abs().max()))
    assert ok.summary["status"] == "completed"
