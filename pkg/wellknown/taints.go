package wellknown

// TaintSandboxNotReady keeps pods off a node until the Kata installer has
// finished (register the node with it: kubelet --register-with-taints); the
// installer removes it as its last step.
const TaintSandboxNotReady = LabelPrefix + "sandbox-not-ready"
