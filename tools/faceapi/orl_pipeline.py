#!/usr/bin/env python3
"""orl_pipeline.py — ORL with face-api's pretrained photo pipeline in facetwin, no training.

    python3 tools/faceapi/orl_pipeline.py --facetwin build/facetwin --model pipeline.ftw \
        [--orl ../shared/datasets/orl] [--canvas 300] [--detector ssd]

Every ORL image (92x112 grey) goes through `facetwin align --json --canvas N`: centred on an
N x N mid-grey canvas (the detectors need context around ORL's tight crops, as the issue found),
detected, 68 landmarks, face-api's alignDlib crop, 150x150, encoder. The highest-scoring face of
each image is used; an image with no face falls back to the whole image stretched to 150x150
(`facetwin embed`, the encoder alone) and is counted. Then over all 40 people and ALL pairs
(1,800 same-person, 78,000 different-person): AUC, EER, and balanced accuracy (the mean of the
same-pair and different-pair accuracies, i.e. the accuracy on a balanced pair set) at 0.6 and at
the best threshold. Standard library only.
"""
import argparse, itertools, json, math, os, subprocess, sys


def run_json_lines(cmd):
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return [json.loads(l) for l in out.splitlines() if l.strip()]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--facetwin', required=True)
    ap.add_argument('--model', required=True)
    ap.add_argument('--orl', default=os.path.join(os.path.dirname(__file__), '../../../shared/datasets/orl'))
    ap.add_argument('--canvas', type=int, default=300)
    ap.add_argument('--detector', default='ssd')
    ap.add_argument('--rotate', action='store_true', help="facetwin's similarity-transform crop instead of face-api's")
    a = ap.parse_args()
    people = sorted((d for d in os.listdir(a.orl) if os.path.isdir(os.path.join(a.orl, d))), key=lambda s: int(s[1:]))
    files, labels = [], []
    for i, p in enumerate(people):
        for f in sorted(os.listdir(os.path.join(a.orl, p)), key=lambda s: int(s.split('.')[0])):
            files.append(os.path.join(a.orl, p, f))
            labels.append(i)
    recs = run_json_lines([a.facetwin, 'align', '--model', a.model, '--detector', a.detector, '--canvas', str(a.canvas),
                           '--json'] + (['--rotate'] if a.rotate else []) + files)
    desc, missing = [], []
    for f, r in zip(files, recs):
        if r['faces_detected']:
            desc.append(r['faces'][0]['descriptor'])
        else:
            missing.append(f)
            desc.append(None)
    if missing:
        emb = run_json_lines([a.facetwin, 'embed', '--model', a.model, '--json'] + missing)[0]['embeddings']
        fb = {e['file']: e['embedding'] for e in emb}
        for k, f in enumerate(files):
            if desc[k] is None:
                desc[k] = fb[f]
    same, diff = [], []
    for i, j in itertools.combinations(range(len(files)), 2):
        d = math.dist(desc[i], desc[j])
        (same if labels[i] == labels[j] else diff).append(d)
    same.sort()
    diff.sort()
    # AUC = P(d_diff > d_same), ties half
    auc, k = 0.0, 0
    for d in same:
        while k < len(diff) and diff[k] <= d:
            k += 1
        auc += len(diff) - k
    auc /= len(same) * len(diff)

    def rates(t):  # same if d < t
        tp = sum(1 for d in same if d < t) / len(same)
        tn = sum(1 for d in diff if d >= t) / len(diff)
        return tp, tn

    cands = sorted(set(same + diff))
    best = (0, 0)
    eer = (2, 0)
    import bisect
    for t in cands[:: max(1, len(cands) // 4000)]:
        tp = bisect.bisect_left(same, t) / len(same)
        tn = 1 - bisect.bisect_left(diff, t) / len(diff)
        bal = (tp + tn) / 2
        if bal > best[0]:
            best = (bal, t)
        gap = abs((1 - tp) - (1 - tn))
        if gap < eer[0]:
            eer = (gap, t, ((1 - tp) + (1 - tn)) / 2)
    tp6, tn6 = rates(0.6)
    res = {
        'images': len(files), 'faces_found': len(files) - len(missing), 'canvas': a.canvas, 'detector': a.detector, 'rotate': a.rotate,
        'same_pairs': len(same), 'different_pairs': len(diff), 'auc': round(auc, 5),
        'eer': round(eer[2], 4), 'eer_threshold': round(eer[1], 3),
        'balanced_accuracy_at_0.6': round((tp6 + tn6) / 2, 4), 'far_at_0.6': round(1 - tn6, 4), 'frr_at_0.6': round(1 - tp6, 4),
        'best_balanced_accuracy': round(best[0], 4), 'best_threshold': round(best[1], 3),
        'missing': [os.path.relpath(m, a.orl) for m in missing],
    }
    print(json.dumps(res))


if __name__ == '__main__':
    main()
