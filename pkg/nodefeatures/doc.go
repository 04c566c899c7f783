// Package nodefeatures names the raw node features that mtscn-node publishes
// in its NFD NodeFeature object and that the NodeFeatureRules in nfd-rules/
// turn into node labels and extended resources.
//
// The names are a contract between the node agent (pkg/node) and the rules:
// the agent imports these constants instead of retyping strings, and the
// rules' tests (nfd-rules/rules_test.go) build their feature sets from them.
// nfd-rules/README.md documents every feature, element and value.
//
// Features follow NFD's Features type: a feature is named
// "<domain>.<feature>" and is either a set of flags, of attributes
// (element name -> string value) or a list of instances (each a map of
// attributes). Every mtscn feature lives in the "mtscn" domain.
package nodefeatures
