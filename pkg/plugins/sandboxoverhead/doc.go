// Package sandboxoverhead implements the SandboxOverhead scheduler plugin: it accounts for the guest memory a Kata VM really commits, beyond pod.spec.overhead (DESIGN.md section 5).
package sandboxoverhead
