"""Penultimate-layer features, their t-SNE, and numbers for "the classes form clusters".

    feats = penultimate_features(model, images, cfg, device)   # (N, 512) for ResNet18
    emb = tsne_2d(feats, seed=0)                                 # (N, 2)
    cluster_quality(feats, emb, labels)   # k-NN accuracy in both spaces, silhouette scores

The features are the input of the last Linear layer (for ResNet18 the 512-d vector after global
average pooling — the report's "second last layer"), captured with a forward hook.
"""
import numpy as np
import torch

from .engine import predict
from .models.classifiers import last_layer


def penultimate_features(model, images, cfg, device):
    """(N, D) float32 numpy array of the last layer's inputs for uint8 images (N, 3, H, W)."""
    captured = []
    hook = last_layer(model).register_forward_hook(lambda m, inp, out: captured.append(inp[0].float()))
    try:
        model.eval()
        predict(model, images, cfg, device)
    finally:
        hook.remove()
    return torch.cat(captured).cpu().numpy()


def tsne_2d(features, seed=0, perplexity=30.0):
    """Seeded 2-D t-SNE with PCA initialisation (deterministic for a given seed)."""
    from sklearn.manifold import TSNE

    perplexity = min(perplexity, (len(features) - 1) / 3)
    return TSNE(n_components=2, init="pca", random_state=seed, perplexity=perplexity,
                learning_rate="auto").fit_transform(np.asarray(features, dtype=np.float32))


def knn_accuracy(points, labels, k=5):
    """Leave-one-out k-NN accuracy: how often a point's k nearest others vote its own class."""
    from sklearn.neighbors import KNeighborsClassifier

    knn = KNeighborsClassifier(n_neighbors=k + 1).fit(points, labels)
    neighbours = knn.kneighbors(points, return_distance=False)[:, 1:]  # drop the point itself
    votes = np.asarray(labels)[neighbours]
    predicted = np.array([np.bincount(v).argmax() for v in votes])
    return float((predicted == np.asarray(labels)).mean())


def cluster_quality(features, embedding, labels, k=5):
    """k-NN accuracy and silhouette score, in the raw feature space and in the 2-D embedding."""
    from sklearn.metrics import silhouette_score

    return {"knn_acc_features": knn_accuracy(features, labels, k),
            "knn_acc_tsne": knn_accuracy(embedding, labels, k),
            "silhouette_features": float(silhouette_score(features, labels)),
            "silhouette_tsne": float(silhouette_score(embedding, labels)),
            "k": k, "chance": 1 / len(np.unique(labels))}
