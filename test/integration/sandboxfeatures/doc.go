// Package sandboxfeatures holds the integration tests of the SandboxFeatures
// plugin and of nfd-rules/: the shipped mtscn-scheduler runs against a real
// kube-apiserver and etcd and places Kata pods by node features, and NFD's
// CRDs accept every NodeFeatureRule and the agent's NodeFeature shape.
package sandboxfeatures
