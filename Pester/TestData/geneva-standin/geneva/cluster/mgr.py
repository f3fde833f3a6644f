"""Stand-in: geneva.cluster.mgr, the cluster definitions the bridge builds (see geneva/__init__.py)."""

import enum
from dataclasses import dataclass, field


class GenevaClusterType(enum.Enum):
    KUBE_RAY = "KUBE_RAY"
    LOCAL_RAY = "LOCAL_RAY"
    EXTERNAL_RAY = "EXTERNAL_RAY"


@dataclass
class HeadGroupConfig:
    image: str
    service_account: str = ""
    num_cpus: int = 1
    memory: str = "3Gi"


@dataclass
class WorkerGroupConfig:
    image: str
    service_account: str = ""
    num_cpus: int = 2
    memory: str = "4Gi"
    num_gpus: int = 0


@dataclass
class KubeRayConfig:
    namespace: str
    head_group: HeadGroupConfig
    worker_groups: list = field(default_factory=list)
    config_method: object = None
    use_portforwarding: bool = True


@dataclass
class GenevaCluster:
    cluster_type: GenevaClusterType
    name: str
    kuberay: KubeRayConfig = None
    ray_address: str = None

    @staticmethod
    def create_local(name):
        return _Builder(GenevaCluster(GenevaClusterType.LOCAL_RAY, name))

    @staticmethod
    def create_external(name, ray_address):
        return _Builder(GenevaCluster(GenevaClusterType.EXTERNAL_RAY, name, ray_address=ray_address))


class _Builder:
    def __init__(self, cluster):
        self._cluster = cluster

    def build(self):
        return self._cluster
