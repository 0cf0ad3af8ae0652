"""A Kubernetes API emulator that runs pods as local processes (``python -m rdfox_local.k8s_emulator``).

It serves the subset of the core/v1 API that the unmodified cncf-kubernetes ``KubernetesPodOperator`` and its
deferrable ``KubernetesPodTrigger`` use (pods: create, read, list, patch, delete, logs incl. follow; events:
list and watch; nodes; version), plus plain storage of apps/v1 Deployments and v1 Services. Pods run like a
kubelet would run them: init containers in order, then the containers, with emptyDir volumes as directories
and each image's programs taken from an image map (``image-map.yaml``); a pod that fits no node stays
Pending/Unschedulable, ``activeDeadlineSeconds`` ends a pod (DeadlineExceeded), ``stdin: true`` keeps a
container's stdin open, and a container over its memory limit is OOMKilled. See docs/pod.md.
"""
