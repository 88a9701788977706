"""Joint training of all exits (BEENet): summed cross-entropy over exits.

Features are always computed by the engine front-end (ctypes, frontend.py) from
on-the-fly augmented waveforms (data.augment.Augmenter), or, with
``feature_cache``, read from the front-end's output cached once per clip and
augmented in the feature domain (fcache.py, docs/scale.md).
"""
from __future__ import annotations

import contextlib
import math
import os
import random
import time
from typing import Dict, List, Optional

import numpy as np
import torch

from . import distributed as D
from .average import DEFAULT_DECAY, WeightAverage, check_decay, recalibrate_bn
from .batches import (DEFAULT_FEATURE_AUG, PREFETCH, BatchMaker, check_feature_aug,
                      step_input)
from .bcache import Stored
from .corpus import Corpus, check_mix, eval_waves, item_waves
from .frontend import Frontend
from .losses import (DEFAULT_DISTILL, check_distill, check_label_smoothing, distill_losses,
                     exit_losses, load_teacher)
from .mining import MiningFeatures, check_hard_negatives, mine_hard_negatives
from .model import BeeNet, build_graph, exit_ops_fractions, single_exit_config
from .validation import (choose_threshold, early_exit_sweep, exit_accuracies, features_for, norm_stats,
                         predict_logits)


def log(msg: str) -> None:
    print("[%s] %s" % (time.strftime("%H:%M:%S"), msg), flush=True)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def _save_resume(path: str, state: Dict) -> None:
    tmp = path + ".tmp"
    torch.save(state, tmp)
    os.replace(tmp, path)


def _bf16_autocast():
    return torch.autocast("cpu", dtype=torch.bfloat16)


# The arithmetic of the training steps' forward pass (the backward follows it).  "bf16": CPU
# autocast to bfloat16 (convolutions and matrix products; PyTorch keeps reductions such as the
# losses in float32), which AVX-512 BF16 computes natively; the master weights, the optimiser,
# validation, mining and export stay float32 (docs/training.md, "Optimiser and schedule").
PRECISIONS = {"fp32": contextlib.nullcontext, "bf16": _bf16_autocast}

# Which weights a run keeps (``select``): "best", the epoch with the best
# final-exit accuracy on the validation clips (ties -> mean over exits);
# "last", the weights after the last step (the schedule's end); "ema", the
# exponential moving average of the weights over the steps (average.py).
SELECTIONS = ("best", "last", "ema")


# --select ema: training batches on which the averaged weights' batch norms are measured again
RECAL_BATCHES = 32


def recalibration_batches(submit, model: BeeNet, epoch: int, n: int, fa: Dict, augment: bool, seed: int,
                          positions, device) -> List[torch.Tensor]:
    """The inputs of the first ``n`` batches of ``epoch`` made again, as the
    training step saw them (normalised, SpecAugment if on): the same batches
    whether or not the run was resumed."""
    return [step_input(model, submit(epoch, b).get()[0], fa, augment, seed, epoch, b, positions, device)
            for b in range(n)]


def keep_average(model: BeeNet, avg: WeightAverage, batches, val_feats: np.ndarray, val_y: np.ndarray, say):
    """Load the averaged weights into ``model`` with whichever batch-norm statistics
    (averaged, or measured again under the averaged weights on ``batches``,
    average.recalibrate_bn) give the better final exit on the validation clips.
    Returns (metadata, the kept weights' validation accuracy per exit)."""
    import copy
    model.load_state_dict(avg.averaged_state(model))
    acc_avg = exit_accuracies(model, val_feats, val_y)
    twin = copy.deepcopy(model)
    n = recalibrate_bn(twin, batches)
    acc_rec = exit_accuracies(twin, val_feats, val_y) if n else acc_avg
    recal = bool(n) and acc_rec[-1] > acc_avg[-1]
    if recal:
        model.load_state_dict(twin.state_dict())
    say("keeping the weights averaged over %d steps (decay %g): validation final exit %.4f with the averaged "
        "batch-norm statistics, %.4f measured again on %d training batches; kept the %s" % (
            avg.updates, avg.decay, acc_avg[-1], acc_rec[-1], n, "latter" if recal else "former"))
    info = {"decay": avg.decay, "updates": avg.updates, "bn": "recalibrated" if recal else "averaged",
            "bn_batches": n, "val_final_averaged_bn": float(acc_avg[-1]),
            "val_final_recalibrated_bn": float(acc_rec[-1])}
    return info, (acc_rec if recal else acc_avg).tolist()


def default_threads() -> int:
    """PyTorch threads for a training process when --threads is not given: the
    cores this process may run on, less one for its batch worker, at least 1.
    On the 2-core machine an epoch of the KWS-12 recipe took 210 s with one
    thread and 255 s with two (docs/training.md, "Why the targets are
    missed", Budget): two threads fight the worker for the second core."""
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cores = os.cpu_count() or 1
    return max(1, cores - 1)


def _validation_set(corpus: Corpus, fe: Frontend, seed: int, d, say, t0: float):
    """(mean, inv_std, validation features, validation labels): normalisation
    statistics on un-augmented training clips and the validation set, made on
    rank 0 (the statistics broadcast; the validation set None elsewhere)."""
    mean = inv_std = val_feats = val_y = None
    if d.main:
        rng = np.random.default_rng(seed)
        if corpus.v2:
            stat_items = corpus.epoch_items("train", np.random.default_rng([seed, 1]))[:3000]
            stat_feats = features_for(fe, item_waves(corpus, "train", stat_items, seed + 1))
            val_items = corpus.epoch_items("val", np.random.default_rng([seed, 2]))
            val_waves = item_waves(corpus, "val", val_items, seed + 2)
            val_y = np.array([it[2] for it in val_items])
        else:
            train_ex = corpus.splits["train"]
            stat_idx = rng.permutation(len(train_ex))[:3000]
            stat_feats = features_for(fe, eval_waves(corpus, [train_ex[i] for i in stat_idx], seed + 1))
            val_ex = corpus.splits["val"]
            val_waves = eval_waves(corpus, val_ex, seed + 2)
            val_y = np.array([ex.label_index for ex in val_ex])
        mean, inv_std = norm_stats(stat_feats)
        del stat_feats
        val_feats = features_for(fe, val_waves)
        del val_waves
        say("normalisation + validation features ready (%d val examples, %.1fs)" % (len(val_y), time.time() - t0))
    mean, inv_std = D.broadcast_object((mean, inv_std), d)
    return mean, inv_std, val_feats, val_y


def _network(config: Optional[Dict], corpus: Corpus, single_exit: Optional[int], mean, inv_std,
             sync_bn: bool, d) -> BeeNet:
    """The network of ``config`` for the corpus's task, its input normalised with
    (mean, inv_std), on the run's device."""
    config = dict(config or {})
    config.setdefault("num_classes", len(corpus.labels))
    if corpus.task.name != "kws12":
        config.setdefault("name", "%s-%s-ee" % (corpus.task.name, config.get("family", "quicknet")))
    if config["num_classes"] != len(corpus.labels):
        raise ValueError("config num_classes %d, but task %s has %d labels"
                         % (config["num_classes"], corpus.task.name, len(corpus.labels)))
    if single_exit:
        config = single_exit_config(config, single_exit)
    model = BeeNet(config)
    if not model.config.get("pcen"):   # a PCEN network's own BN normalises (model.PCEN)
        model.feat_mean.copy_(torch.from_numpy(mean))
        model.feat_inv_std.copy_(torch.from_numpy(inv_std))
    if sync_bn and d.active:
        D.convert_sync_bn(model, d)
    model.to(d.device)
    return model


def _exit_fractions(model: BeeNet, say) -> List[float]:
    """The share of the network's operations spent up to each exit (logged with the total)."""
    # a real-valued network (config real_valued) has the OPs of its binary twin
    nodes = build_graph((BeeNet(dict(model.config, real_valued=False)) if model.config.get("real_valued")
                         else model).eval())
    exit_fracs, tb, tf = exit_ops_fractions(nodes, tuple(model.config["in_shape"]), model.config["num_classes"])
    say("model: %d exits at OPs fractions %s; total OPs %.0f (FLOPs %d + BOPs %d / 64)" % (
        model.num_exits, ["%.3f" % f for f in exit_fracs], tf + tb / 64.0, tf, tb))
    return exit_fracs


class _Loop:
    """The training loop: its position (epoch, batch, step, time spent), what
    it keeps across epochs (best weights, history, the hard-negative pool,
    the weight average) and the pieces every step uses, so that a step, an
    epoch and what follows an epoch are short methods."""

    def __init__(self, model: BeeNet, opt, d, epochs: int, steps_per_epoch: int, minutes: Optional[float],
                 lr: float, resume: Optional[str], resume_minutes: float):
        self.model, self.opt, self.d = model, opt, d
        self.net = model
        self.epochs, self.steps_per_epoch, self.lr = epochs, steps_per_epoch, lr
        self.total_steps = steps_per_epoch * epochs
        self.budget = minutes * 60.0 if minutes else None
        self.resume, self.resume_minutes = resume, resume_minutes
        self.start_epoch, self.start_b, self.step, self.spent = 0, 0, 0, 0.0
        self.resumed_minutes = 0.0
        self.best: Dict = {"score": -1.0}
        self.history: List[Dict] = []
        self.hard = None     # the hard-negative pool of the current epoch
        self.avg: Optional[WeightAverage] = None
        self.step_args: Dict = {}
        self.progress = self.maker = self.bc = None
        self.mining: Optional[Dict] = None   # the hard-negative settings when mining
        self.corpus = self.fe = None          # the run's corpus and front-end (the miner scores with them)
        self.seed = 0
        self.t_train = self.last_save = 0.0

    def restore(self, st: Dict) -> None:
        """Continue from a resume file's state (rank 0's, broadcast)."""
        self.model.load_state_dict(st["model"])
        self.opt.load_state_dict(st["opt"])
        torch.set_rng_state(st["torch_rng"])
        self.start_epoch, self.start_b, self.step, self.spent = st["epoch"], st["b"], st["step"], st["spent"]
        self.resumed_minutes = self.spent / 60.0
        self.best, self.history = st["best"], st["history"]
        self.hard = st.get("hard")

    def submit(self, epoch: int, b: int):
        """Batch ``b`` of ``epoch``: from the batch cache when it has it, else from the worker."""
        if self.bc is not None and self.bc.has(epoch, b):
            return Stored(self.bc, epoch, b)
        return self.maker.submit(epoch, b, self.hard)

    def run(self, val_feats, val_y, say) -> int:
        """Train until the last epoch or the budget; returns the last epoch's index."""
        self.t_train = time.time() - self.spent
        self.last_save = time.time()
        epoch = self.start_epoch
        for epoch in range(self.start_epoch, self.epochs):
            t_ep = time.time()
            mf = MiningFeatures(self.maker, epoch, int(self.mining["candidates"]), self.steps_per_epoch) \
                if self.mining and self.d.main and epoch + 1 < self.epochs else None
            tot_loss, n_seen, correct, t_feat, t_wait, stop = self.epoch(
                epoch, self.start_b if epoch == self.start_epoch else 0, mf)
            tot_loss, n_seen, *corr = D.all_sum([tot_loss, n_seen] + correct.tolist(), self.d)
            if n_seen == 0:
                break
            stats = self.mine(epoch, mf) if self.mining and not stop and epoch + 1 < self.epochs else None
            if not self.d.main:   # validation, selection and files: rank 0
                if stop:
                    break
                continue
            self.progress.end_line()
            self.validate(epoch, tot_loss / n_seen, np.array(corr) / n_seen, (t_ep, t_feat, t_wait),
                          val_feats, val_y, stats, say)
            if stop:
                break
        return epoch

    def epoch(self, epoch: int, first_b: int, mf: Optional[MiningFeatures]):
        """Steps ``first_b``.. of ``epoch``, until its end, the schedule's or the
        budget's.  Returns (summed loss, examples, correct per exit, the
        worker's seconds making batches, the seconds waited for them, stop)."""
        self.net.train()
        tot_loss, n_seen = 0.0, 0
        correct = np.zeros(self.model.num_exits)
        t_feat = t_wait = 0.0   # the worker's time making batches; the trainer's time waiting for them
        last = self.steps_per_epoch
        pending = {nb: self.submit(epoch, nb) for nb in range(first_b, min(first_b + PREFETCH, last))}
        for b in range(first_b, last):
            # progress in [0, 1): by steps or by the wall-clock budget, whichever is further
            prog = self.step / self.total_steps
            if self.budget:
                prog = max(prog, D.broadcast_float(time.time() - self.t_train, self.d) / self.budget)
            if prog >= 1.0:
                return tot_loss, n_seen, correct, t_feat, t_wait, True
            self.save(epoch, b)
            for g in self.opt.param_groups:
                g["lr"] = self.lr * 0.5 * (1.0 + math.cos(math.pi * prog))
            if mf is not None:
                mf.step(b)
            job = pending.pop(b)
            t_w = time.time()
            feats, ys, tb_feat = job.get()
            t_wait += time.time() - t_w
            if self.bc is not None and not isinstance(job, Stored):   # the worker made it: keep it
                self.bc.put(epoch, b, feats, ys)
                self.bc.misses += 1
            for nb in range(b + 1, min(b + 1 + PREFETCH, last)):
                if nb not in pending:
                    pending[nb] = self.submit(epoch, nb)
            t_feat += tb_feat
            loss, outs, y = self.train_step(feats, ys, epoch, b)
            self.step += 1
            self.progress.step(epoch, self.epochs, self.step, prog)
            tot_loss += float(loss) * len(ys)
            n_seen += len(ys)
            for k, o in enumerate(outs):
                correct[k] += float((o.argmax(1) == y).sum())
        return tot_loss, n_seen, correct, t_feat, t_wait, False

    def save(self, epoch: int, b: int) -> None:
        """Write the resume file when ``resume_minutes`` have passed since the last one."""
        if not (self.resume and self.d.main and time.time() - self.last_save > self.resume_minutes * 60):
            return
        _save_resume(self.resume, {"model": self.model.state_dict(), "opt": self.opt.state_dict(),
                                   "torch_rng": torch.get_rng_state(), "epoch": epoch, "b": b,
                                   "step": self.step, "spent": time.time() - self.t_train, "best": self.best,
                                   "history": self.history, "hard": self.hard,
                                   "ema": self.avg.state_dict() if self.avg is not None else None})
        self.last_save = time.time()

    def train_step(self, feats: np.ndarray, ys: np.ndarray, epoch: int, b: int):
        """One optimiser step on batch ``b``; returns (loss, every exit's logits, labels)."""
        a = self.step_args
        dev = self.d.device
        x = step_input(self.model, feats, a["fa"], a["augment"], self.seed, epoch, b, a["positions"], dev)
        y = torch.from_numpy(ys).to(dev)
        with a["autocast"]():
            outs = [o.float() for o in self.net(x)]
        losses = exit_losses(outs, y, a["exit_loss"], a["label_smoothing"])
        if a["tnet"] is not None:
            with torch.no_grad():
                # the same masks as the student's
                tx = step_input(a["tnet"], feats, a["fa"], a["augment"], self.seed, epoch, b, a["positions"], dev)
                t_outs = a["tnet"](tx)
            a_kd = a["dd"]["weight"]
            losses = [(1.0 - a_kd) * lk + a_kd * kk
                      for lk, kk in zip(losses, distill_losses(outs, t_outs, a["dd"]["temperature"]))]
        loss = sum(wk * lk for wk, lk in zip(a["w_exit"], losses))
        self.opt.zero_grad()
        loss.backward()
        self.opt.step()
        self.model.clip_()
        if self.avg is not None:
            self.avg.update(self.model)
        return loss, outs, y

    def mine(self, epoch: int, mf: Optional[MiningFeatures]) -> Optional[Dict]:
        """The hard-negative pool for the next epoch: rank 0 mines, every rank uses
        its pool.  Returns rank 0's statistics."""
        stats = None
        if self.d.main:
            t_mine = time.time()
            self.hard, stats = mine_hard_negatives(self.model, self.corpus, self.fe, self.seed, epoch,
                                                   self.mining, mf.get())
            stats["seconds"] = round(time.time() - t_mine, 2)   # in the training process
        self.hard = D.broadcast_object(self.hard, self.d)
        return stats

    def validate(self, epoch: int, loss: float, train_acc: np.ndarray, times, val_feats, val_y,
                 stats: Optional[Dict], say) -> None:
        """The epoch's record (``times``: its start, the worker's and the waiting
        seconds) with every exit's validation accuracy, logged and kept in the
        history; the best epoch's weights kept (rank 0)."""
        vacc = exit_accuracies(self.model, val_feats, val_y)
        score = float(vacc[-1]) + 1e-3 * float(vacc.mean())   # final exit, ties -> mean over exits
        t_ep, t_feat, t_wait = times
        rec = {"epoch": epoch + 1, "loss": loss, "train_acc": train_acc.tolist(), "val_acc": vacc.tolist(),
               "seconds": time.time() - t_ep, "feature_seconds": t_feat, "wait_seconds": t_wait}
        if stats is not None:
            rec["hard_negatives"] = stats
            hn = self.mining
            say("hard negatives for epoch %d: %.1f %% of %d crops score a keyword >= 0.5, %.1f %% >= 0.9; "
                "kept %d down to %.3f (%.0f s)" % (rec["epoch"] + 1, 100 * stats["kw_post_ge_0.5"],
                                                  hn["candidates"], 100 * stats["kw_post_ge_0.9"], hn["keep"],
                                                  stats["kept_min_post"], stats["seconds"]))
            if "kept_noisy" in stats:
                say("  of the noisy candidates %.1f %% score a keyword >= 0.5; %.0f %% of those kept are noisy" % (
                    100 * stats["noisy_kw_post_ge_0.5"], 100 * stats["kept_noisy"]))
        self.history.append(rec)
        say("epoch %d loss %.3f train %s val %s (%.0fs, features %.0fs, waited %.0fs, lr %.2e)" % (
            rec["epoch"], rec["loss"], " ".join("%.3f" % a for a in rec["train_acc"]),
            " ".join("%.3f" % a for a in vacc), rec["seconds"], rec["feature_seconds"], rec["wait_seconds"],
            self.opt.param_groups[0]["lr"]))
        if score > self.best["score"]:
            self.best = {"score": score, "epoch": rec["epoch"], "val_acc": vacc.tolist(),
                         "state_dict": {k: v.detach().clone() for k, v in self.model.state_dict().items()}}


def _keep_weights(L: _Loop, select: str, recal, val_feats, val_y, say):
    """Load the weights ``select`` keeps into the network; returns (the kept
    epoch, its validation accuracy per exit, the average's metadata or None)."""
    kept = L.best["epoch"] if select == "best" else len(L.history)
    kept_val = L.history[kept - 1]["val_acc"] if L.history else None
    ema_info = None
    if select == "best":
        L.model.load_state_dict(L.best["state_dict"])
    elif select == "ema":
        ema_info, kept_val = keep_average(L.model, L.avg, recal, val_feats, val_y, say)
    else:
        say("keeping the weights after the last step (epoch %d; best validation epoch %d)" % (
            kept, L.best["epoch"]))
    return kept, kept_val, ema_info


def _write_files(model: BeeNet, ck: Dict, corpus: Corpus, out: Optional[str], checkpoint: Optional[str],
                 say) -> None:
    """The checkpoint (default: ``out`` with .pt) and the model file ``out``."""
    if checkpoint is None:
        checkpoint = os.path.splitext(out)[0] + ".pt" if out else None
    if checkpoint:
        os.makedirs(os.path.dirname(os.path.abspath(checkpoint)), exist_ok=True)
        torch.save(ck, checkpoint)
        say("checkpoint %s" % checkpoint)
    if out and model.config.get("real_valued"):
        say("real-valued network: no model file (the engine runs binary networks); %s is the result"
            % checkpoint)
    elif out:
        from .export import model_to_gguf
        # the keyword classes are the labels not starting with "_" (the engine's
        # default), none for a classification task (LID-6)
        n = model_to_gguf(model, corpus.labels, "entropy", ck["threshold"], training=ck["training"],
                          keywords=ck.get("keywords"), task=corpus.task.name).write(out)
        say("exported %s (%d bytes)" % (out, n))


def train(data: str, out: str, seed: int = 0, epochs: int = 30, minutes: Optional[float] = None,
          batch_size: int = 128, lr: float = 2e-3, config: Optional[Dict] = None,
          exit_weights: Optional[List[float]] = None, threads: Optional[int] = None, max_train: Optional[int] = None,
          max_eval: Optional[int] = None, checkpoint: Optional[str] = None, augment: bool = True,
          quiet: bool = False, feature_aug: Optional[Dict] = None, recorded_weight: int = 3,
          augment_config: Optional[Dict] = None, resume: Optional[str] = None,
          resume_minutes: float = 5.0, sync_bn: bool = False, progress_seconds: float = 60.0,
          feature_cache: Optional[str] = None, cache_wave_fraction: float = 0.25,
          hard_negatives: Optional[Dict] = None, single_exit: Optional[int] = None,
          exit_loss: str = "softmax", batch_cache: Optional[str] = None, mix: Optional[Dict] = None,
          teacher: Optional[str] = None, distill: Optional[Dict] = None, precision: str = "fp32",
          label_smoothing: float = 0.0, select: str = "best", ema_decay: float = DEFAULT_DECAY) -> Dict:
    """Train all exits jointly (``single_exit`` k: only the network up to
    exit k, with that exit alone, model.single_exit_config).  ``exit_loss``
    "bce": the exits before the last learn one independent score per class
    (losses.exit_losses; for the class-exclusion policy, whose margins then
    compare sigmoid scores: the exported file says so in
    beenet.class_exclusion.score).  ``resume``: a file written every
    ``resume_minutes`` (model, optimiser, position, generators, elapsed
    time); when it exists the run continues from it, so a killed run
    resumes where its last save left it (the wall-clock budget counts the
    time already spent).

    Under torch.distributed (torchrun, or RANK/WORLD_SIZE/MASTER_ADDR/
    MASTER_PORT set) ``batch_size`` is the global batch: each rank trains
    every world-th example of it with DistributedDataParallel, rank 0 alone
    logs and writes files (docs/scale.md).  ``sync_bn``: batch statistics
    over the global batch.  Ranks other than 0 return only
    ``final_state_dict`` (the weights after the last step, as on rank 0).

    ``feature_cache``: a directory for the front-end's output, built once
    (sharded over the ranks) and rebuilt when stale; examples are then made
    from cached features, a ``cache_wave_fraction`` of them (when
    augmenting) on the waveform path (fcache.py, docs/scale.md).

    ``hard_negatives``: overrides of mining.DEFAULT_HARD_NEGATIVES (corpus v2
    with augmentation only; ``share`` 0 = off).

    ``batch_cache``: a directory where the training batches are stored and
    read back by the next run that would make the same ones (bcache.py;
    Table 2 trains many networks on the same batches); not with hard
    negatives (batches that depend on the network) or torch.distributed.

    ``teacher``: a trained checkpoint (e.g. the real-valued twin, config
    real_valued) distilled into every exit; ``distill`` overrides
    losses.DEFAULT_DISTILL (losses.distill_losses).

    ``precision``: a key of PRECISIONS, the arithmetic of the training steps.

    ``label_smoothing``: of the exits' cross-entropy targets (losses.exit_losses).

    ``select``: a key of SELECTIONS, which weights the checkpoint and the
    model file get; "ema" averages with ``ema_decay`` per step (average.py)."""
    if precision not in PRECISIONS:
        raise ValueError("precision %r: not one of %s" % (precision, ", ".join(PRECISIONS)))
    if select not in SELECTIONS:
        raise ValueError("select %r: not one of %s" % (select, ", ".join(SELECTIONS)))
    check_label_smoothing(label_smoothing)
    check_decay(ema_decay)
    t0 = time.time()
    d = D.setup()
    threads = threads or default_threads()
    torch.set_num_threads(threads)
    seed_everything(seed)
    say = (lambda m: None) if quiet or not d.main else log
    positions = D.rank_positions(batch_size, d)
    D.local_batch(batch_size, d)
    fa = check_feature_aug(dict(DEFAULT_FEATURE_AUG, **(feature_aug or {})))
    hn = check_hard_negatives(hard_negatives)
    limits = None
    if max_train or max_eval:
        limits = {"train": max_train or 10 ** 9, "val": max_eval or 10 ** 9, "test": max_eval or 10 ** 9}
    corpus = Corpus(data, seed=seed, max_per_split=limits, recorded_weight=recorded_weight,
                    augment_config=augment_config, mix=check_mix(mix))
    fe = Frontend()
    cached = None
    if feature_cache:
        from . import fcache
        cached = fcache.CachedExamples(fcache.prepare(feature_cache, corpus, fe, d, say), corpus,
                                       cache_wave_fraction)
    say("corpus %s%s: %s" % (data, " (v2: mix %s, recorded weight %d)" % (corpus.mix, corpus.recorded_weight)
                             if corpus.v2 else "", {k: len(v) for k, v in corpus.splits.items()}))
    mean, inv_std, val_feats, val_y = _validation_set(corpus, fe, seed, d, say, t0)
    model = _network(config, corpus, single_exit, mean, inv_std, sync_bn, d)
    dd = check_distill(dict(DEFAULT_DISTILL, **(distill or {}))) if teacher else None
    tnet = load_teacher(teacher, model.config["num_classes"], d.device) if teacher else None
    if tnet is not None:
        say("distilling %s (%s, %d exits) into every exit: weight %.2f, temperature %.1f" % (
            teacher, "real-valued" if tnet.config.get("real_valued") else "binary", tnet.num_exits,
            dd["weight"], dd["temperature"]))
    w_exit = exit_weights or [1.0] * model.num_exits
    assert len(w_exit) == model.num_exits
    exit_fracs = _exit_fractions(model, say)

    opt = torch.optim.Adam(model.parameters(), lr=lr)
    n_epoch_items = len(corpus.epoch_items("train", np.random.default_rng([seed, 0]))) if corpus.v2 \
        else len(corpus.splits["train"])
    steps_per_epoch = max(1, n_epoch_items // batch_size)
    mine = corpus.v2 and augment and hn["share"] > 0 and bool(corpus.sentences.get("train"))
    st = None
    if resume and d.main and os.path.isfile(resume):
        st = torch.load(resume, weights_only=False, map_location="cpu")
    st = D.broadcast_object(st, d)   # every rank resumes from rank 0's file
    L = _Loop(model, opt, d, epochs, steps_per_epoch, minutes, lr, resume, resume_minutes)
    L.corpus, L.fe, L.seed = corpus, fe, seed
    L.step_args = dict(w_exit=w_exit, exit_loss=exit_loss, label_smoothing=label_smoothing, tnet=tnet, dd=dd,
                       autocast=PRECISIONS[precision], fa=fa, augment=augment, positions=positions)
    if st:
        L.restore(st)
        say("resumed from %s: epoch %d batch %d, %.1f min already spent" % (resume, L.start_epoch + 1,
                                                                          L.start_b, L.spent / 60))
    if select == "ema" and d.main:
        L.avg = WeightAverage(model, ema_decay)
        if st and st.get("ema"):
            L.avg.load_state_dict(st["ema"])
    L.net, counter = D.wrap_ddp(model, d)
    say("%s: global batch %d, %d per process%s, %d PyTorch thread%s each" % (
        "%d processes (%s)" % (d.world, d.backend) if d.active else "1 process", batch_size,
        batch_size // d.world, ", SyncBatchNorm" if sync_bn and d.active else "", threads, "s"[:threads > 1]))
    L.progress = D.Progress(d.main and not quiet, L.total_steps, batch_size, progress_seconds)
    L.maker = BatchMaker(corpus, batch_size, augment, fa, seed, positions, cached, hn)
    if batch_cache:
        if mine or d.active:
            raise ValueError("--batch-cache: batches depend on the network with hard negatives, "
                             "and on the rank under torch.distributed; not available there")
        from .bcache import BatchCache
        L.bc = BatchCache(batch_cache, corpus, fe, {
            "seed": seed, "batch_size": batch_size, "augment": bool(augment), "feature_aug": fa,
            "augment_config": corpus.augment_config or {}, "mix": corpus.mix if corpus.v2 else None,
            "recorded_weight": corpus.recorded_weight, "limits": limits, "steps_per_epoch": steps_per_epoch,
            "feature_cache": [feature_cache and os.path.abspath(feature_cache), cache_wave_fraction]})
        say("batch cache %s" % L.bc.dir)
    if mine:
        L.mining = hn
    epoch = L.run(val_feats, val_y, say)

    recal = recalibration_batches(L.submit, model, epoch, min(RECAL_BATCHES, steps_per_epoch), fa, augment, seed,
                                  positions, d.device) if L.avg is not None else []
    L.maker.close()
    L.progress.end_line()
    final_state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
    comm_bytes = counter.bytes / max(1, L.progress.steps) if counter else 0.0
    D.shutdown(d)
    if not d.main:
        return {"final_state_dict": final_state, "rank": d.rank}
    if d.active:
        say("all-reduced %.0f bytes of gradients per step (DDP buckets)" % comm_bytes)
    model.cpu()
    kept, kept_val, ema_info = _keep_weights(L, select, recal, val_feats, val_y, say)
    model.eval()
    # Recommended threshold: chosen on the validation split (never on test).
    vl = predict_logits(model, val_feats)
    rows = early_exit_sweep(vl, val_y, exit_fracs)
    final_acc = float((vl[-1].argmax(-1) == val_y).mean())
    threshold = choose_threshold(rows, final_acc)
    # this process's wall time plus the training time of the runs it resumed
    wall = time.time() - t0 + L.resumed_minutes * 60.0
    say("best epoch %d val final %.4f; sweep %s; recommended entropy threshold %.2f; wall %.1f min" % (
        L.best["epoch"], final_acc,
        ["%.2f:%.4f/%.3f" % (r["threshold"], r["accuracy"], r["ops_fraction"]) for r in rows],
        threshold, wall / 60))
    training = {
        "seed": seed, "data": os.path.basename(os.path.normpath(data)), "epochs": len(L.history),
        "best_epoch": L.best["epoch"], "batch_size": batch_size, "lr": lr,
        "val_accuracy": [float(a) for a in kept_val],
        "val_final_accuracy": final_acc, "wall_minutes": round(wall / 60.0, 2),
        "exit_weights": [float(w) for w in w_exit], "torch": torch.__version__,
        "feature_aug": {k: list(v) if isinstance(v, tuple) else v for k, v in fa.items()},
        "augment": bool(augment), "augment_config": corpus.augment_config or {},
        "mix": corpus.mix if corpus.v2 else None, "recorded_weight": corpus.recorded_weight,
        "train_minutes": round((time.time() - L.t_train) / 60.0, 2),
        "resumed_after_minutes": round(L.resumed_minutes, 2),
        "processes": d.world, "sync_bn": bool(sync_bn and d.active), "task": corpus.task.name,
        "allreduce_bytes_per_step": comm_bytes,
    }
    # only when they differ from the defaults: the metadata of runs without them stays as it was
    optional = {"hard_negatives": hn if mine else None,
                "exit_loss": exit_loss if exit_loss != "softmax" else None,
                "precision": precision if precision != "fp32" else None,
                "label_smoothing": label_smoothing or None,
                "select": select if select != "best" else None,
                "kept_epoch": kept if select != "best" else None, "ema": ema_info,
                "distill": dict(dd, teacher=os.path.basename(teacher)) if tnet is not None else None,
                "batch_cache": L.bc.key if L.bc is not None else None,
                "feature_cache": {"wave_fraction": cached.wave_fraction, "key": cached.cache.plan.key,
                                  "shards": cached.cache.count} if cached is not None else None}
    training.update((k, v) for k, v in optional.items() if v is not None)
    if L.bc is not None:
        say("batch cache: %d batches read, %d made and stored" % (L.bc.hits, L.bc.misses))
    ck = {"config": model.config, "state_dict": model.state_dict(), "labels": corpus.labels,
          "task": corpus.task.to_dict(),
          "threshold": threshold, "policy": "entropy", "training": training, "history": L.history,
          "val_sweep": [{k: v for k, v in r.items() if k not in ("pred", "exit")} for r in rows],
          "exit_ops_fractions": exit_fracs}
    if corpus.task.kind != "keywords":   # beenet.keywords: none (LID-6); else the engine's default
        ck["keywords"] = corpus.task.detection_keywords
    _write_files(model, ck, corpus, out, checkpoint, say)
    ck["model"] = model
    ck["final_state_dict"] = final_state
    return ck
