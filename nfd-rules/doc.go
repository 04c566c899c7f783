// Package nfdrules holds mtscn's NodeFeatureRules (the YAML files beside
// this one) and their tests: the rules run through NFD's own rule engine
// against the raw features of real node types, and the expected labels and
// extended resources are compared exactly. The package has no Go API; its
// Files variable only lists the rule files for other tests.
package nfdrules
