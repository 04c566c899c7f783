// Package repocheck holds the repository-wide checks that keep each concept
// in one place and every reference resolvable. It has no code, only tests,
// which `make verify` runs (hack/make/repocheck.mk) as well as `make test-unit`:
//
//   - vocabulary_test.go: every label, taint, resource, annotation and
//     feature name of pkg/wellknown is spelled only there; help texts,
//     manifests and docs name only keys it defines.
//   - classification_test.go: no code outside pkg/tenancy decides what a
//     missing Namespace or RuntimeClass means.
//   - docrefs_test.go: no file names a document that is not in the
//     repository; relative Markdown links and repository paths (in Go
//     comments and strings, READMEs, manifests, scripts) resolve.
//   - deps_test.go: the binaries' package graph (the node agent links
//     neither the scheduler nor its configuration).
//   - length_test.go: no source file is longer than 500 lines unless it
//     says why.
//
// docs/contributing.md says which package owns which concept.
package repocheck
