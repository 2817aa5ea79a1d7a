"""Pattern mining: embed the error analyses (Sentence-BERT) and group them by k-means, K at the elbow."""

from pada.mining.embedder import Embedder
from pada.mining.kmeans import Cluster, MiningResult, choose_k, mine_patterns

__all__ = ["Cluster", "Embedder", "MiningResult", "choose_k", "mine_patterns"]
