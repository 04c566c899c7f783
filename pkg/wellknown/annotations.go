package wellknown

// Annotation keys.
const (
	// AnnotationNodeAgentVersion on the agent's NodeFeature object records
	// the mtscn-node version that wrote it.
	AnnotationNodeAgentVersion = LabelPrefix + "node-agent-version"
	// AnnotationDemoNodeKind on a demo node describes the machine it
	// simulates in one line ("bare metal, AMD SEV-SNP"), shown in the
	// reports of mtscnctl demo; optional.
	AnnotationDemoNodeKind = "demo." + LabelPrefix + "kind"
)
