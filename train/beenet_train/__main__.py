"""Command line: python3 -m beenet_train {train,own,export,evaluate,streams,policies,describe,...}."""
from __future__ import annotations

import argparse
import json
import os
import shlex
import sys


_POLICY_HELP = "a policy of the engine's table (`python3 -m beenet_train policies` lists them)"


def _policy_name(name: str) -> str:
    """argparse type: a policy name the engine knows (beenet_policy_from_name)."""
    from .frontend import BeenetError, policy_name
    try:
        return policy_name(name)
    except BeenetError as e:
        raise argparse.ArgumentTypeError(str(e))


def _policy_args(parser, help_text: str, threshold: bool = False) -> None:
    parser.add_argument("--policy", type=_policy_name, help=help_text)
    if threshold:
        parser.add_argument("--threshold", type=float, help="threshold of --policy (default: the policy's)")
    parser.add_argument("--patience", type=int, help="patience policy: consecutive exits with the same class")
    parser.add_argument("--max-exit", type=int, help="never run past this exit (1-based; 0 = no limit)")


def main(argv=None):
    from .model import FAMILY_CONFIGS
    from .average import DEFAULT_DECAY, check_decay
    from .train import PRECISIONS, SELECTIONS
    p = argparse.ArgumentParser(prog="python3 -m beenet_train")
    sub = p.add_subparsers(dest="cmd", required=True)

    t = sub.add_parser("train", help="train all exits jointly and export a GGUF model")
    t.add_argument("--data", required=True, help="corpus root in Google Speech Commands layout")
    t.add_argument("--out", required=True, help="output model file (.gguf); checkpoint goes to <out>.pt")
    t.add_argument("--checkpoint", help="checkpoint path (default: <out without .gguf>.pt)")
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--epochs", type=int, default=40)
    t.add_argument("--minutes", type=float, default=50.0,
                   help="wall-clock budget of the training loop in minutes (the cosine LR schedule follows "
                        "whichever of epochs/minutes ends first; default 50, 0 = no limit)")
    t.add_argument("--batch-size", type=int, default=128,
                   help="global batch (split evenly over the processes under torch.distributed)")
    t.add_argument("--lr", type=float, default=2e-3)
    t.add_argument("--threads", type=int, default=None,
                   help="PyTorch threads (default: the cores this process may use less one, for the batch worker; "
                        "the result depends on the thread count, so give it for bit-identical reruns)")
    t.add_argument("--precision", choices=tuple(PRECISIONS), default="fp32",
                   help="arithmetic of the training steps' forward pass (train.PRECISIONS): bf16 = CPU autocast "
                        "to bfloat16 for convolutions and matrix products, weights and evaluation stay float32 "
                        "(docs/training.md; default fp32)")
    t.add_argument("--label-smoothing", type=float, default=0.0, metavar="EPS",
                   help="label smoothing of the exits' cross-entropy: EPS of each target spread evenly over the "
                        "classes (default 0)")
    t.add_argument("--select", choices=tuple(SELECTIONS), default="best",
                   help="weights to keep (train.SELECTIONS): best = the epoch with the best final-exit accuracy "
                        "on the validation clips, last = the weights after the last step, ema = the weights "
                        "averaged over the steps with --ema-decay (default best)")
    t.add_argument("--ema-decay", type=float, default=DEFAULT_DECAY, metavar="D",
                   help="--select ema: the average keeps D of itself at each step (default %g: about the last "
                        "%d steps)" % (DEFAULT_DECAY, round(1 / (1 - DEFAULT_DECAY))))
    t.add_argument("--family", choices=tuple(FAMILY_CONFIGS), default="quicknet",
                   help="network family: its defaults are model.FAMILY_CONFIGS[family] (default quicknet)")
    t.add_argument("--config", help="JSON dict overriding the family's defaults (model.FAMILY_CONFIGS)")
    t.add_argument("--exit-weights", help="comma-separated loss weight per exit (default: all 1)")
    t.add_argument("--exit-loss", choices=("softmax", "bce"), default="softmax",
                   help="loss of the exits before the last: softmax cross-entropy (default) or per-class "
                        "binary cross-entropy for the class-exclusion policy (docs/policies.md)")
    t.add_argument("--single-exit", type=int, metavar="K",
                   help="train only the network up to exit K (1-based) with that exit alone (Table 2's "
                        "single-exit models; model.single_exit_config)")
    t.add_argument("--max-train", type=int, help="use at most this many training clips")
    t.add_argument("--max-eval", type=int, help="use at most this many validation/test clips")
    t.add_argument("--no-augment", action="store_true")
    t.add_argument("--feature-aug", help="JSON dict overriding batches.DEFAULT_FEATURE_AUG "
                   "(p_specaugment, p_vtlp, vtlp, p_context, p_partial, partial)")
    t.add_argument("--augment-config", help="JSON dict overriding data.augment.AugmentConfig fields")
    t.add_argument("--recorded-weight", type=int, default=3,
                   help="corpus v2: recorded (non-eSpeak) voices' keyword clips count this many times")
    t.add_argument("--resume", help="resume file, saved every 5 minutes and continued from when it "
                   "exists (default: <out without .gguf>.resume.pt; 'none' disables)")
    t.add_argument("--sync-bn", action="store_true",
                   help="under torch.distributed: batch-norm statistics over the global batch "
                        "(SyncBatchNorm; docs/scale.md)")
    t.add_argument("--feature-cache", metavar="DIR",
                   help="cache the front-end's output per clip in DIR (memory-mapped, sharded by rank, "
                        "rebuilt when stale) and augment cached features (docs/scale.md; default: off)")
    t.add_argument("--mix", help="JSON dict overriding corpus.DEFAULT_MIX (keywords, unknown_words, speech_crops, "
                   "silence: shares of a corpus v2 epoch and of its validation set, summing to 1)")
    t.add_argument("--hard-negatives", help="JSON dict overriding mining.DEFAULT_HARD_NEGATIVES (share, candidates, "
                   "keep, jitter_ms, noisy); corpus v2: a share of the running-speech crops comes from those the "
                   "network scored highest as a keyword after the previous epoch, a share 'noisy' of them "
                   "scored (and then trained on) in training noise")
    t.add_argument("--batch-cache", metavar="DIR",
                   help="store the training batches in DIR and read them back in the next run that makes "
                        "the same ones (same corpus, seed, settings and trainer code; bcache.py): runs that "
                        "differ only in the network train on identical inputs without remaking them")
    t.add_argument("--teacher", metavar="CHECKPOINT",
                   help="distil this trained checkpoint (e.g. a real-valued twin, --config '{\"real_valued\": "
                        "true}') into every exit (losses.distill_losses)")
    t.add_argument("--distill", help="JSON dict overriding losses.DEFAULT_DISTILL (weight, temperature); "
                   "with --teacher")
    t.add_argument("--cache-wave-fraction", type=float, default=0.25,
                   help="with --feature-cache and augmentation: share of the examples made on the "
                        "waveform path with the full augmentation (speed, reverberation; default 0.25)")

    e = sub.add_parser("export", help="export a checkpoint to GGUF")
    e.add_argument("--checkpoint", required=True)
    e.add_argument("--out", required=True)
    e.add_argument("--threshold", type=float)
    e.add_argument("--policy", type=_policy_name, help="recommended policy written in the file: %s" % _POLICY_HELP)

    v = sub.add_parser("evaluate", help="evaluate a model file with the engine and write the model card")
    v.add_argument("--model", required=True)
    v.add_argument("--data", required=True)
    v.add_argument("--split", default="test")
    v.add_argument("--checkpoint", help="PyTorch checkpoint for the parity check")
    v.add_argument("--card", help="write the markdown model card here")
    v.add_argument("--max-clips", type=int)
    v.add_argument("--json", help="also dump the results as JSON here")
    _policy_args(v, "also measure this exit policy on the same clips (beside the entropy sweep): "
                 + _POLICY_HELP, threshold=True)

    st = sub.add_parser("streams", help="false alarms per hour and miss rate on a stream set (engine)")
    st.add_argument("--model", required=True)
    st.add_argument("--evalset", required=True, help="<eval out>/<split> written by data.evalsets")
    st.add_argument("--interval-ms", type=float, help="window interval (default: the model's)")
    st.add_argument("--refine-level", type=float,
                    help="refined windows after a window whose likeliest keyword is above this (default: the "
                         "model's; 1 = none)")
    st.add_argument("--threshold", type=float, help="early-exit threshold (default: the model's)")
    st.add_argument("--detection", help="JSON dict overriding the model's detection parameters")
    _policy_args(st, "exit policy (default: the model's): " + _POLICY_HELP)
    st.add_argument("--keyword-exit", type=int,
                    help="keyword candidates do not stop before this exit (default: the model's; 0 = none)")
    st.add_argument("--json", help="write all figures (incl. the ROC) here")
    st.add_argument("--roc", help="write the ROC plot (PNG) here")

    kw = sub.add_parser("keyword-windows", help="per keyword of a stream set's keyword stream: is the window "
                        "centred on it, or any window holding it, classified right (full depth)?")
    kw.add_argument("--model", required=True)
    kw.add_argument("--evalset", required=True, help="<eval out>/<split> written by data.evalsets")
    kw.add_argument("--hop-ms", type=float, default=100.0)
    kw.add_argument("--data", help="the corpus (its voices.json): the same figures per held-out voice group")
    kw.add_argument("--wrong-at", type=float, default=0.6,
                    help="count the windows whose top keyword class reaches this, right or wrong, by the "
                         "share of the word they hold (default 0.6)")

    tu = sub.add_parser("tune-detection", help="choose the detection defaults on validation streams, "
                        "store them in the checkpoint and re-export")
    tu.add_argument("--model", required=True)
    tu.add_argument("--checkpoint", required=True)
    tu.add_argument("--evalset", required=True, help="<eval out>/val")
    tu.add_argument("--out", required=True)
    tu.add_argument("--intervals", type=float, nargs="+", default=[500.0])
    tu.add_argument("--refine-levels", type=float, nargs="+", default=[1.0],
                    help="refine levels to try jointly (refined windows half an interval after a window whose "
                         "likeliest keyword is above the level; 1 = none, the default)")
    tu.add_argument("--max-fa-per-hour", type=float, default=1.0,
                    help="false alarms per hour of the validation negative stream allowed (the issue's target)")
    tu.add_argument("--max-wrong-per-hour", type=float,
                    help="also at most this many false detections (wrong keyword, or none said) per hour of "
                         "the validation keyword stream (default: not bounded)")
    tu.add_argument("--exit-thresholds", type=float, nargs="+",
                    help="early-exit thresholds to try jointly (default: the model's own)")
    tu.add_argument("--keyword-exits", type=int, nargs="+", default=[0],
                    help="keyword_exit values to try jointly (0 = none; 5 = keyword candidates run to exit 5)")
    tu.add_argument("--threshold-step", type=float,
                    help="also try detection thresholds 0.30-0.99 in steps of this (e.g. 0.01; default: the "
                         "ROC's thresholds only, 0.05 apart below 0.9)")
    tu.add_argument("--cross-validate", type=float, nargs="+", metavar="MARGIN",
                    help="factors on both bounds (e.g. 1 0.75 0.5 0.25 0) cross-validated on the streams' halves: "
                         "the largest whose settings, chosen on one half, stay within the bounds on the other "
                         "(averaged over both folds) is applied to the bounds of the final choice")
    tu.add_argument("--per-class", action="store_true",
                    help="then per-keyword thresholds (beenet.detection.class_offsets), kept when they detect "
                         "more validation keywords within the false-alarm limit")

    c = sub.add_parser("card", help="model card on the held-out evaluation sets (issue 7 figures)")
    c.add_argument("--model", required=True)
    c.add_argument("--checkpoint", help="PyTorch checkpoint for the parity check of the classic card")
    c.add_argument("--data", required=True, help="the corpus v2 root (voices.json, test split)")
    c.add_argument("--evalset", required=True, help="the --out of data.evalsets (uses <evalset>/<split>)")
    c.add_argument("--split", choices=("test", "val"), default="test",
                   help="test (the model card) or val (the same figures on validation, for decisions "
                        "made before the test sets are looked at)")
    c.add_argument("--baseline", action="append", help="NAME=MODEL measured the same way, side by side; MODEL may be git:REV:PATH "
                        "(an earlier default from this repository's history)")
    c.add_argument("--interval-ms", type=float, help="window interval (default: each model's, as the element)")
    c.add_argument("--build", help="build dir: also measure the element's CPU time with gst-launch-1.0")
    c.add_argument("--card", help="write the markdown card here")
    c.add_argument("--roc", help="write the ROC plot here")
    c.add_argument("--json")

    x = sub.add_parser("exclusion", help="class-exclusion policy: search the per-exit exclusion factors on the "
                       "validation split's exit outputs, write them into a model file, compare with entropy")
    x.add_argument("--model", required=True)
    x.add_argument("--data", required=True, help="corpus root (GSC layout, corpus v2 or --small synth)")
    x.add_argument("--split", default="val", help="split the factors are searched on (default val)")
    x.add_argument("--tolerance", type=float, default=0.01,
                   help="accuracy the search may lose against the full network on --split (default 0.01)")
    x.add_argument("--out", help="write the model with beenet.class_exclusion.factors here")
    x.add_argument("--study", metavar="SPLIT", help="also measure entropy and class exclusion on this split")
    x.add_argument("--plot", help="--study: accuracy vs OPs plot (PNG)")
    x.add_argument("--max-clips", type=int, help="a fixed random subset of this many clips per split")
    x.add_argument("--cache", help="directory keeping each split's features and exit logits between runs "
                   "(shared with eenet)")
    x.add_argument("--json")

    n = sub.add_parser("eenet", help="EENet policy: train the scheduler (utility functions, thresholds per budget) "
                       "on the validation split's exit outputs, write it into a model file, compare the policies")
    n.add_argument("--model", required=True)
    n.add_argument("--data", required=True, help="corpus root (GSC layout, corpus v2 or --small synth)")
    n.add_argument("--split", default="val", help="split the scheduler is trained on (default val)")
    n.add_argument("--hidden", type=int, default=8, help="hidden units of each exit's utility MLP (default 8)")
    n.add_argument("--seed", type=int, default=0)
    n.add_argument("--out", help="write the model with beenet.eenet.* here")
    n.add_argument("--study", metavar="SPLIT", help="also measure every policy on this split")
    n.add_argument("--tolerance", type=float, default=0.01,
                   help="--study: class-exclusion factors searched at this tolerance on --split (default 0.01)")
    n.add_argument("--check-budgets", nargs="*", default=["0.5", "0.7"],
                   help="--study with --out: EENet budgets re-run clip by clip through the engine")
    n.add_argument("--plot", help="--study: accuracy vs OPs plot (PNG)")
    n.add_argument("--max-clips", type=int, help="a fixed random subset of this many clips per split")
    n.add_argument("--cache", help="directory keeping each split's features and exit logits between runs")
    n.add_argument("--json")

    d = sub.add_parser("describe", help="print the engine's description of a model file")
    d.add_argument("model")

    sub.add_parser("policies", help="list the engine's exit policies (beenet_policy_*)")

    from .own import add_parser as own_parser
    own_parser(sub)

    a = p.parse_args(argv)
    if a.cmd == "train":
        from .batches import DEFAULT_FEATURE_AUG, check_feature_aug
        from .corpus import check_mix
        from .losses import DEFAULT_DISTILL, check_distill, check_label_smoothing
        from .mining import check_hard_negatives
        from .train import train
        if a.feature_aug:
            try:
                check_feature_aug(dict(DEFAULT_FEATURE_AUG, **json.loads(a.feature_aug)))
            except (ValueError, TypeError) as e:   # TypeError: JSON that is not an object
                print("error: --feature-aug: %s" % e, file=sys.stderr)
                return 2
        if a.distill:
            if not a.teacher:
                print("error: --distill needs --teacher", file=sys.stderr)
                return 2
            try:
                check_distill(dict(DEFAULT_DISTILL, **json.loads(a.distill)))
            except (ValueError, TypeError) as e:
                print("error: --distill: %s" % e, file=sys.stderr)
                return 2
        if a.teacher:
            from .export import load_checkpoint
            try:   # before the corpus is read: a wrong file fails at once
                load_checkpoint(a.teacher)
            except FileNotFoundError:
                print("error: --teacher %s: no such file" % a.teacher, file=sys.stderr)
                return 2
            except (OSError, ValueError) as e:
                print("error: --teacher: %s" % e, file=sys.stderr)
                return 2
        if a.mix:
            try:
                check_mix(json.loads(a.mix))
            except ValueError as e:     # json.JSONDecodeError is one too
                print("error: --mix: %s" % e, file=sys.stderr)
                return 2
        try:
            check_label_smoothing(a.label_smoothing)
        except ValueError as e:
            print("error: --label-smoothing: %s" % e, file=sys.stderr)
            return 2
        try:
            check_decay(a.ema_decay)
        except ValueError as e:
            print("error: --ema-decay: %s" % e, file=sys.stderr)
            return 2
        if a.hard_negatives:
            try:
                check_hard_negatives(json.loads(a.hard_negatives))
            except ValueError as e:
                print("error: --hard-negatives: %s" % e, file=sys.stderr)
                return 2
        train(a.data, a.out, seed=a.seed, epochs=a.epochs, minutes=a.minutes, batch_size=a.batch_size, lr=a.lr,
              config=dict({"family": a.family}, **(json.loads(a.config) if a.config else {})),
              exit_weights=[float(x) for x in a.exit_weights.split(",")] if a.exit_weights else None,
              threads=a.threads, max_train=a.max_train, max_eval=a.max_eval, checkpoint=a.checkpoint,
              augment=not a.no_augment,
              feature_aug=json.loads(a.feature_aug) if a.feature_aug else None,
              augment_config=json.loads(a.augment_config) if a.augment_config else None,
              recorded_weight=a.recorded_weight,
              resume=None if a.resume == "none" else (a.resume or os.path.splitext(a.out)[0] + ".resume.pt"),
              sync_bn=a.sync_bn, feature_cache=a.feature_cache, cache_wave_fraction=a.cache_wave_fraction,
              hard_negatives=json.loads(a.hard_negatives) if a.hard_negatives else None,
              single_exit=a.single_exit, exit_loss=a.exit_loss, batch_cache=a.batch_cache,
              mix=json.loads(a.mix) if a.mix else None, teacher=a.teacher,
              distill=json.loads(a.distill) if a.distill else None, precision=a.precision,
              label_smoothing=a.label_smoothing, select=a.select,
              ema_decay=a.ema_decay)
    elif a.cmd == "card":
        from .card import main as card_main
        a.command = "BEENET_LIB=<builddir>/engine/libbeenet.so PYTHONPATH=train /usr/bin/python3 -m beenet_train " + \
            " ".join(shlex.quote(x) for x in (argv if argv is not None else sys.argv[1:]))
        return card_main(a)
    elif a.cmd == "own":
        from .own import main as own_main
        return own_main(a, argv if argv is not None else sys.argv[1:])
    elif a.cmd == "eenet":
        from .eenet import main as eenet_main
        return eenet_main(a)
    elif a.cmd == "exclusion":
        from .exclusion import main as exclusion_main
        return exclusion_main(a)
    elif a.cmd == "tune-detection":
        from .streams import tune
        return tune(a)
    elif a.cmd == "keyword-windows":
        from .streams import keyword_windows
        r = keyword_windows(a.model, a.evalset, a.hop_ms, a.data, a.wrong_at)
        print("%d keywords, windows every %g ms, full depth: centred window right %.1f %%, some window "
              "holding the word right %.1f %%; best right-class probability >= 0.5: %.1f %%, >= 0.9: %.1f %%, "
              ">= 0.98: %.1f %%" % (r["keywords"], a.hop_ms, 100 * r["centred"], 100 * r["any"],
                                    100 * r["best_ge_0.5"], 100 * r["best_ge_0.9"], 100 * r["best_ge_0.98"]))
        print("keywords whose class never reaches 0.5, heard as: %s" % ", ".join(
            "%s %d" % kv for kv in r["unheard_as"].items()))
        bs = r["by_share"]
        print("windows holding some of a keyword with a keyword class >= %g, by the share of the word they "
              "hold (<=25 / 25-50 / 50-75 / 75-99 %% / whole): right %s, wrong %s" % (
                  bs["at"], " / ".join(map(str, bs["right"])), " / ".join(map(str, bs["wrong"]))))
        print("wrong ones, said->heard: %s" % ", ".join("%s %d" % kv for kv in bs["wrong_pairs"].items()))
        for v in r.get("by_voice", []):
            print("  %-40s %3d keywords: best >= 0.5 %5.1f %%, >= 0.9 %5.1f %%" % (
                v["group"], v["n"], 100 * v["best_ge_0.5"], 100 * v["best_ge_0.9"]))
    elif a.cmd == "streams":
        from .streams import main as streams_main
        return streams_main(a)
    elif a.cmd == "export":
        from .export import export_checkpoint
        n = export_checkpoint(a.checkpoint, a.out, a.threshold, a.policy)
        print("wrote %s (%d bytes)" % (a.out, n))
    elif a.cmd == "evaluate":
        from .evaluate import evaluate
        cmd = "BEENET_LIB=<builddir>/engine/libbeenet.so PYTHONPATH=train /usr/bin/python3 -m beenet_train " + " ".join(
            shlex.quote(x) for x in (argv if argv is not None else sys.argv[1:]))
        from .frontend import policy_params
        extra = [policy_params(a.policy, a.threshold, a.patience, a.max_exit)] if a.policy else []
        res = evaluate(a.model, a.data, a.split, a.checkpoint, a.card, cmd, a.max_clips, policies=extra)
        if a.json:
            with open(a.json, "w") as f:
                json.dump(res, f, indent=1, default=lambda o: o.tolist() if hasattr(o, "tolist") else str(o))
    elif a.cmd == "policies":
        from .frontend import policy_description, policy_names, policy_params
        for name in policy_names():
            print("%-16s %s (defaults: %s)" % (name, policy_description(name), policy_params(name).as_dict()))
    elif a.cmd == "describe":
        from .frontend import Model
        print(Model(a.model).describe())
    return 0


if __name__ == "__main__":
    sys.exit(main())
