"""Model card for the held-out evaluation sets of a corpus v2 (issue 7 figures).

    BEENET_LIB=build/engine/libbeenet.so PYTHONPATH=train /usr/bin/python3 -m beenet_train card \\
        --model models/kws12.gguf --checkpoint models/kws12.pt --data data/kws12-v2 \\
        --evalset data/kws12-v2-eval --baseline old=git:15fa51f:models/kws12.gguf \\
        --card docs/models.md --roc docs/kws12-roc.png --json runs/card.json

Everything is measured by the engine: per-window sets (``clean``,
``babble10``, ``babble0``, ``noise5`` of ``<evalset>/test``) with
``beenet_session_run_all_exits`` and ``beenet_session_classify_features``,
the stream sets with the session and ``beenet_detector_push``
(``streams.py``), the element's CPU time with ``gst-launch-1.0`` on the
negative stream minus an ``identity`` pipeline.  The classic card of
``evaluate`` (per exit, threshold sweep, by voice, confusion, parity) on
the corpus' test split follows.
"""
from __future__ import annotations

import json
import os
import resource
import subprocess
import tempfile
import time
from typing import Dict, List, Optional

import numpy as np

from .data.audio import read_wav
from .frontend import Frontend, Model
from .evaluate import engine_logits, engine_policy_row
from .streams import evaluate_streams, roc_plot

WINDOW_SETS = ["clean", "babble10", "babble0", "noise5"]
TARGETS = {"clean": 0.96, "babble10": 0.92, "babble0": 0.75, "noise5": 0.90}
RECORDED_TARGET = 0.85
REPO = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))


def window_set(model: Model, d: str) -> Dict:
    rows = [l.rstrip("\n").split("\t") for l in open(os.path.join(d, "labels.tsv"), encoding="utf-8")][1:]
    labels = model.labels
    y = np.array([labels.index(r[1]) for r in rows])
    fe = Frontend(model.frontend_config)
    feats = fe.compute_batch([read_wav(os.path.join(d, r[0])) for r in rows])
    logits = engine_logits(model, feats)
    final = logits[-1].argmax(-1)
    # the model's own defaults: policy, threshold and keyword exit
    row = engine_policy_row(model, feats, y, model.default_params())
    kw = np.array([r[2] == "keyword" for r in rows])
    return {"n": len(rows), "final": float((final == y).mean()), "at_threshold": row["accuracy"],
            "ops_fraction": row["ops_fraction"], "keywords_final": float((final[kw] == y[kw]).mean()),
            "non_keywords_final": float((final[~kw] == y[~kw]).mean()),
            "rows": rows, "pred_final": final, "y": y}


def recorded_voices(ws: Dict, data: str) -> List[Dict]:
    """Final-exit accuracy per held-out recorded (non-eSpeak) voice on its clips."""
    from .data.voices import speaker_id
    with open(os.path.join(data, "voices.json")) as f:
        names = json.load(f)
    by_spk = {speaker_id(n): n for n in names if not n.startswith("espeak:")}
    out = {}
    for i, r in enumerate(ws["rows"]):
        if r[2] in ("keyword", "word"):
            v = by_spk.get(os.path.basename(r[3])[:8])
            if v:
                out.setdefault(v, []).append(i)
    return [{"voice": v, "n": len(ix), "accuracy": float((ws["pred_final"][ix] == ws["y"][ix]).mean())}
            for v, ix in sorted(out.items())]


def element_cpu(model_path: str, wav: str, interval_ms: Optional[float], build: str) -> Dict:
    """CPU seconds per audio second of the beenet element on a file, minus an
    identity pipeline (gst-launch-1.0, same decode chain)."""
    env = dict(os.environ, GST_PLUGIN_PATH=os.path.join(build, "gst"))

    def run(elem):
        cmd = ["gst-launch-1.0", "-q", "filesrc", "location=" + wav, "!", "wavparse", "!",
               "audioconvert", "!", "audio/x-raw,format=F32LE", "!"] + elem + ["!", "fakesink"]
        r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        subprocess.run(cmd, env=env, check=True, capture_output=True, timeout=1800)
        r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        return (r1.ru_utime + r1.ru_stime) - (r0.ru_utime + r0.ru_stime)

    seconds = read_wav(wav).size / 16000.0
    base = min(run(["identity"]) for _ in range(2))
    el = min(run(["beenet", "model=" + os.path.abspath(model_path)]
                 + (["interval=%d" % int(interval_ms * 1e6)] if interval_ms else [])) for _ in range(2))
    return {"audio_seconds": seconds, "identity_cpu_s": base, "beenet_cpu_s": el,
            "cpu_per_audio_second": (el - base) / seconds}


def measure(model_path: str, data: str, evalset: str, interval_ms: Optional[float], build: Optional[str],
            split: str = "test") -> Dict:
    """interval_ms None: the model's own (the element's default). split:
    the evaluation sets' test split (the card) or val (decisions)."""
    m = Model(model_path)
    t = os.path.join(evalset, split)
    res = {"model": model_path, "size_bytes": os.path.getsize(model_path),
           "threshold": m.default_threshold, "detection": m.detection_defaults, "sets": {}}
    for name in WINDOW_SETS:
        ws = window_set(m, os.path.join(t, name))
        if name == "clean":
            res["recorded_voices"] = recorded_voices(ws, data)
        res["sets"][name] = {k: v for k, v in ws.items() if k not in ("rows", "pred_final", "y")}
    res["streams"] = evaluate_streams(m, t, interval_ms)
    if build:
        res["element"] = element_cpu(model_path, os.path.join(t, "stream", "negative.wav"), interval_ms, build)
    return res


def _chk(ok):
    return "met" if ok else "**not met**"


def card_markdown(results: Dict[str, Dict], main: str, command: str, evalset: str,
                  roc_link: Optional[str] = None, split: str = "test") -> str:
    """roc_link: the ROC plot's path relative to the card (None: no image)."""
    R = results[main]
    names = list(results)
    L = ["# Model card: `%s`\n" % os.path.basename(R["model"]),
         "Generated by `beenet_train card` on %s. Every figure is measured by the engine on held-out "
         "material only (`%s/%s`: voices, sentences and recorded sounds never used in training; "
         "`python3 -m beenet_train.data.evalsets` rebuilds it byte-identically). `%s` is the model "
         "this card is for; the other columns are the same measurements of the models named.\n" % (
             time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), evalset, split, main),
         "Regenerate with:\n\n```sh\n%s\n```\n" % command,
         "## Acceptance (issue 7)\n",
         "| figure | target | " + " | ".join("`%s`" % n for n in names) + " | status (`%s`) |" % main,
         "|---|---|" + "---|" * len(names) + "---|"]
    for s in WINDOW_SETS:
        L.append("| per-window accuracy, final exit, %s | >= %.0f %% | %s | %s |" % (
            s, 100 * TARGETS[s], " | ".join("%.2f %%" % (100 * results[n]["sets"][s]["final"]) for n in names),
            _chk(R["sets"][s]["final"] >= TARGETS[s])))
    worst = lambda r: min(r["recorded_voices"], key=lambda v: v["accuracy"]) if r["recorded_voices"] else None
    L.append("| worst held-out recorded voice, clean, final exit | >= 85 %% | %s | %s |" % (
        " | ".join("%.2f %% (%s)" % (100 * worst(results[n])["accuracy"], worst(results[n])["voice"])
                   for n in names), _chk(worst(R)["accuracy"] >= RECORDED_TARGET)))
    st = {n: results[n]["streams"]["result"] for n in names}
    L.append("| false detections per hour of running speech (default settings) | <= 1 | %s | %s |" % (
        " | ".join("%.2f (%d in %.2f h)" % (st[n]["false_alarms_per_hour"], st[n]["false_alarms_negative"],
                                            results[n]["streams"]["negative_hours"]) for n in names),
        _chk(st[main]["false_alarms_per_hour"] <= 1.0)))
    L.append("| keywords detected with the right label within 1 s of the word's end | >= 95 %% | %s | %s |" % (
        " | ".join("%.2f %% (%d/%d)" % (100 * (1 - st[n]["miss_rate"]), st[n]["hits"], st[n]["keywords"])
                   for n in names), _chk(st[main]["miss_rate"] <= 0.05)))
    L.append("| false detections in the keyword stream (wrong label or no keyword) | - | %s | |" % (
        " | ".join("%d" % st[n]["false_alarms_keyword_stream"] for n in names)))
    L.append("| median / max latency after the word's end | - | %s | |" % (
        " | ".join("%.2f / %.2f s" % (st[n]["latency_median_s"] or float("nan"), st[n]["latency_max_s"] or float("nan"))
                   for n in names)))
    L.append("| average OPs fraction on the stream sets (default threshold) | - | %s | |" % (
        " | ".join("%.3f" % results[n]["streams"]["ops_fraction_mean"] for n in names)))
    if all("element" in results[n] for n in names):
        L.append("| element CPU seconds per audio second (minus identity) | - | %s | |" % (
            " | ".join("%.4f" % results[n]["element"]["cpu_per_audio_second"] for n in names)))
    L.append("| file size | <= 256 KiB | %s | %s |" % (
        " | ".join("%.1f KiB" % (results[n]["size_bytes"] / 1024) for n in names),
        _chk(R["size_bytes"] <= 262144)))
    L.append("")
    L.append("## Settings\n")
    L.append("| model | early-exit threshold | keyword exit | detection threshold | smoothing | refractory | interval "
             "| refine level (refined windows on the streams) |")
    L.append("|---|---|---|---|---|---|---|---|")
    for n in names:
        d, s = results[n]["detection"], results[n]["streams"]
        ke = (s.get("policy") or {}).get("keyword_exit", 0)
        rl = s.get("refine_level", 1.0)
        L.append("| `%s` | %.2f | %s | %.3g | %.0f ms | %.0f ms | %.0f ms | %s |" % (
            n, results[n]["threshold"], ke or "-", d["threshold"], d["smoothing_ms"], d["refractory_ms"],
            s["interval_ms"], "%.2f (%d of %d windows)" % (rl, s.get("refined_windows", 0), s["windows"])
            if rl < 1.0 else "- (none)"))
    L.append("")
    L.append("## Per-window sets (%s split; every keyword clip plus unknown words, running-speech crops "
             "and silence in the trainer's class mix)\n" % split)
    L.append("| set | model | windows | final exit | keywords only | non-keywords only | at the default "
             "threshold | average OPs fraction |\n|---|---|---|---|---|---|---|---|")
    for s in WINDOW_SETS:
        for n in names:
            w = results[n]["sets"][s]
            L.append("| %s | `%s` | %d | %.2f %% | %.2f %% | %.2f %% | %.2f %% | %.3f |" % (
                s, n, w["n"], 100 * w["final"], 100 * w["keywords_final"], 100 * w["non_keywords_final"],
                100 * w["at_threshold"], w["ops_fraction"]))
    L.append("")
    L.append("## Held-out recorded voices (clean, final exit, keyword and unknown-word clips)\n")
    L.append("| voice | " + " | ".join("`%s`" % n for n in names) + " |\n|---|" + "---|" * len(names))
    for i, v in enumerate(R["recorded_voices"]):
        L.append("| %s | %s |" % (v["voice"], " | ".join(
            "%.2f %% (%d)" % (100 * results[n]["recorded_voices"][i]["accuracy"], results[n]["recorded_voices"][i]["n"])
            for n in names)))
    L.append("")
    L.append("## Streams\n")
    S = R["streams"]
    L.append("`negative.wav`: %.2f h of held-out running speech without any keyword; `keywords.wav`: "
             "%.1f min of held-out sentences with %d keywords between them, in babble or recorded noise "
             "at 10 dB SNR. Windows every %.0f ms (and the refined windows of the model's refine level, Settings) "
             "through the engine's session (the model's exit policy: threshold and keyword exit"
             ") and detector. A detection is decided at the end of its window and is a hit when "
             "a keyword of the same label started before and ended at most 1 s before that time.\n" % (
                 S["negative_hours"], S["keyword_stream_minutes"], st[main]["keywords"], S["interval_ms"]))
    L.append("Missed keywords by label (`%s`): %s\n" % (main, ", ".join(
        "%s %d" % kv for kv in st[main]["missed_by_label"].items())))
    L.append("ROC (false alarms per hour on `negative.wav` against miss rate on `keywords.wav`, detection "
             "threshold %.3g-%.3g; circles: the default settings)%s\n" % (
                 S["roc"][0]["threshold"], S["roc"][-1]["threshold"],
                 ": ![ROC](%s)" % roc_link if roc_link else ""))
    L.append("| detection threshold | " + " | ".join("`%s` FA/h / miss" % n for n in names) +
             " |\n|---|" + "---|" * len(names))
    for i, r in enumerate(S["roc"]):
        L.append("| %.3g | %s |" % (r["threshold"], " | ".join(
            "%.2f / %.2f %%" % (results[n]["streams"]["roc"][i]["false_alarms_per_hour"],
                                100 * results[n]["streams"]["roc"][i]["miss_rate"]) for n in names)))
    L.append("")
    return "\n".join(L)


def baseline_file(path: str, tmpdir: str, i: int) -> str:
    """A baseline model: a file, or ``git:REV:PATH`` (an earlier default, taken from the
    repository the command runs in, so the card's command needs no files made by hand)."""
    if not path.startswith("git:"):
        return path
    out = os.path.join(tmpdir, "%d-%s" % (i, os.path.basename(path.split(":", 2)[-1])))
    with open(out, "wb") as f:
        r = subprocess.run(["git", "show", path[4:]], stdout=f, stderr=subprocess.PIPE, cwd=REPO)
    if r.returncode != 0:
        raise SystemExit("baseline %s: git show %s failed in %s: %s" % (
            path, path[4:], REPO, r.stderr.decode(errors="replace").strip()))
    return out


def main(a) -> int:
    from .evaluate import evaluate
    models = {"new": a.model}
    specs = dict(models)  # as given on the command line (git:REV:PATH kept)
    tmp_models = tempfile.TemporaryDirectory()
    for b in a.baseline or []:
        name, _, path = b.partition("=")
        specs[name] = path
        models[name] = baseline_file(path, tmp_models.name, len(models))
    results = {}
    for name, path in models.items():
        print("measuring %s (%s)" % (name, path), flush=True)
        results[name] = measure(path, a.data, a.evalset, a.interval_ms, a.build, a.split)
        results[name]["model"] = specs[name]
    roc_link = (os.path.relpath(a.roc, os.path.dirname(os.path.abspath(a.card))) if a.card else a.roc) \
        if a.roc else None
    md = card_markdown(results, "new", a.command or "", a.evalset, roc_link, a.split)
    if a.roc:
        roc_plot({"%s (%s)" % (n, "commit " + specs[n].split(":")[1] if specs[n].startswith("git:")
                               else os.path.basename(specs[n])): results[n]["streams"] for n in models},
                 a.roc, "KWS-12 on held-out streams (%s)" % a.split)
    if a.json:
        with open(a.json, "w") as f:
            json.dump(results, f, indent=1, default=lambda o: o.tolist() if hasattr(o, "tolist") else str(o))
    if a.card:
        with tempfile.TemporaryDirectory() as tmp:
            classic = os.path.join(tmp, "classic.md")
            evaluate(a.model, a.data, a.split, a.checkpoint, classic, a.command, quiet=True)
            body = open(classic).read().split("\n", 1)[1]
        md += "\n## Corpus %s split (classic card)\n\n" % a.split + body.replace("\n## ", "\n### ")
        with open(a.card, "w") as f:
            f.write(md)
        print("wrote %s" % a.card)
    else:
        print(md)
    return 0
