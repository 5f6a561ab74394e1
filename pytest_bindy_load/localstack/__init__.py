"""The embedded default target: real etcd, kube-apiserver, kube-controller-manager, named and
bindcar run as local processes on loopback, plus the reference operator and a pod supervisor."""
