// Package nfdrules holds mtscn's NodeFeatureRules (the YAML files beside
// this one, embedded) and evaluates them the way nfd-master does, with NFD's
// own rule engine: Load decodes the rules, Evaluate turns a node's merged
// NFD features into the labels and extended resources nfd-master would set.
//
// The node agent can use Evaluate to label its own Node when NFD is not
// deployed, so that both paths share one set of rules. The tests run the
// rules against the raw features of real node types and compare the
// output exactly.
package nfdrules
