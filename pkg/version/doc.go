// Package version reports the build's version for the mtscn binaries. The
// Makefile sets it with -ldflags (together with k8s.io/component-base's
// version, which kube-scheduler's --version prints).
package version
