"""t-SNE of penultimate-layer features, and numbers for "the classes form clusters".

    study = tsne_study(runs["resnet18"], {"epoch 1": 1, "kept": "kept", "kept (map)": ("kept", "map")})
    study.panels      # title -> (2-D embedding, labels, misclassified?)
    study.quality     # title -> k-NN accuracy and silhouette, in 2-D and in the 512-d features

The features are the input of the last Linear layer (ResNet18: the 512-d vector after global
average pooling, the report's "second last layer"), or, as the reference author embedded them,
the last feature map flattened (ResNet18's layer4: 512 x 7 x 7 = 25,088-d at 224 px). Cluster
quality is measured, not eyeballed: leave-one-out k-NN accuracy and silhouette score, in the 2-D
embedding and the feature space. scikit-learn is imported where it is used: it takes 0.8 s, which
the report's kernels without a t-SNE need not pay.
"""
import hashlib
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from ..data.metrics import confusion_matrix
from ..engine.inference import load_trained, penultimate_features, predicted_classes
from ..errors import CheckpointError
from ..tasks import make_task


_EMBEDDED = {}  # (digest of the features, seed, perplexity) -> their embedding, in this process


def tsne_2d(features, seed=0, perplexity=30.0):
    """Seeded 2-D t-SNE with PCA initialisation (deterministic for a given seed). Features already
    embedded in this process with the same settings are not embedded again: ResNet18's last
    feature map at 32 px is 1x1, the pooled vector itself (2.5 s of the sample's t-SNE notebook)."""
    from sklearn.manifold import TSNE

    features = np.ascontiguousarray(features, dtype=np.float32)
    perplexity = min(perplexity, (len(features) - 1) / 3)
    key = (hashlib.sha256(features.tobytes()).hexdigest(), features.shape, seed, perplexity)
    if key not in _EMBEDDED:
        _EMBEDDED[key] = TSNE(n_components=2, init="pca", random_state=seed, perplexity=perplexity,
                              learning_rate="auto").fit_transform(features)
    return _EMBEDDED[key].copy()


def knn_correct(points, labels, k=5):
    """Per point: do its k nearest *other* points vote its own class (leave-one-out k-NN)?

    The point itself is removed by its index, not by position in the neighbour list, so a
    duplicate point (distance 0) still counts as a neighbour and the point never votes for itself.
    """
    from sklearn.neighbors import NearestNeighbors

    labels = np.asarray(labels)
    neighbours = NearestNeighbors(n_neighbors=k + 1).fit(points).kneighbors(points, return_distance=False)
    others = np.array([row[row != i][:k] for i, row in enumerate(neighbours)])
    predicted = np.array([np.bincount(v).argmax() for v in labels[others]])
    return predicted == labels


def knn_accuracy(points, labels, k=5):
    """Leave-one-out k-NN accuracy: the share of points whose k nearest others vote their class."""
    return float(knn_correct(points, labels, k).mean())


def cluster_quality(features, embedding, labels, k=5):
    """k-NN accuracy and silhouette score, in the raw feature space and in the 2-D embedding."""
    from sklearn.metrics import silhouette_score

    return {"knn_acc_features": knn_accuracy(features, labels, k),
            "knn_acc_tsne": knn_accuracy(embedding, labels, k),
            "silhouette_features": float(silhouette_score(features, labels)),
            "silhouette_tsne": float(silhouette_score(embedding, labels)),
            "k": k, "chance": 1 / len(np.unique(labels))}


def most_confused_pairs(labels, preds, top=3):
    """The class pairs most often mistaken for each other (both directions counted), largest
    first: [(class a, class b, images of a called b, images of b called a)]."""
    labels, preds = np.asarray(labels), np.asarray(preds)
    cm = confusion_matrix(labels, preds, int(max(labels.max(), preds.max())) + 1)
    both = np.triu(cm + cm.T, 1)
    order = np.argsort(both, axis=None)[::-1][:top]
    return [(int(a), int(b), int(cm[a, b]), int(cm[b, a]))
            for a, b in zip(*np.unravel_index(order, both.shape)) if both[a, b] > 0]


@dataclass
class TsneStudy:
    panels: dict       # title -> (embedding (N, 2), labels (N,), misclassified (N,) bool)
    quality: dict      # title -> cluster_quality(...)
    knn: dict          # title -> per-image leave-one-out k-NN correctness in the feature space
    images: np.ndarray  # (N, 3, H, W) uint8 validation images
    labels: np.ndarray
    preds: np.ndarray  # the last checkpoint's predicted classes
    names: list        # file names

    def quality_table(self):
        return pd.DataFrame(self.quality).T

    def confused_examples(self, top=3, per_pair=4):
        """(most-confused pairs, {row title: [(image, caption)]}): for each pair a few
        validation images of one class that the model calls the other, both directions."""
        pairs = most_confused_pairs(self.labels, self.preds, top)
        rows = {}
        for a, b, ab, ba in pairs:
            for true, called in ((a, b), (b, a)):
                idx = np.flatnonzero((self.labels == true) & (self.preds == called))[:per_pair]
                if len(idx):
                    rows[f"{true} called {called}"] = [(self.images[i].transpose(1, 2, 0), self.names[i])
                                                       for i in idx]
        return pairs, rows


FEATURES = {"pooled": "pooled features (the last layer's input)",
            "map": "flattened last feature map (the reference author's: plot_tSNE.py:52)"}


def tsne_study(run, checkpoints, seed=0, k=5):
    """Features, t-SNE and cluster quality of the validation images under each checkpoint of a
    classification `Run`. `checkpoints` maps a panel title to "kept" (the kept epoch), or the
    number of an epoch kept by keep_checkpoints, or (either, "map") for the flattened last feature
    map instead of the pooled features (`penultimate_features`); each panel's title then says the
    features' size. The images come from the run's current data_root."""
    val = make_task(run.settings).load_validation()
    labels = val.targets.numpy()
    panels, quality, knn = {}, {}, {}
    for title, which in checkpoints.items():
        which, kind = which if isinstance(which, tuple) else (which, "pooled")
        path = run.dir.checkpoint(which)
        predictor = load_trained(path)
        feats = penultimate_features(predictor, val.images, kind)
        if not np.isfinite(feats).all():
            raise CheckpointError(f"{path}: its penultimate features are not finite (NaN or inf); "
                                  "the model's weights or batch-norm statistics are broken")
        if np.ptp(feats, axis=0).max() == 0:  # scikit-learn's t-SNE crashes on identical points
            raise CheckpointError(f"{path}: its penultimate features are the same for every image; "
                                  "there is nothing to embed (the model's weights are degenerate)")
        preds = torch.cat([predicted_classes(predictor.logits(b))
                           for b in val.images.split(predictor.batch_size)]).cpu().numpy()
        emb = tsne_2d(feats, seed=seed)
        title = f"{title}: {feats.shape[1]:,}-d {FEATURES[kind]}"
        panels[title] = (emb, labels, preds != labels)
        quality[title] = cluster_quality(feats, emb, labels, k)
        knn[title] = knn_correct(feats, labels, k)
    return TsneStudy(panels, quality, knn, val.images.numpy(), labels, preds, val.ids)
