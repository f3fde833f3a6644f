"""Stand-in: geneva.cluster (see geneva/__init__.py)."""

import enum


class K8sConfigMethod(enum.Enum):
    LOCAL = "local"
    EKS_AUTH = "eks_auth"
