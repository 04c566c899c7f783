package wellknown

// Annotation keys.
const (
	// AnnotationNodeAgentVersion on the agent's NodeFeature object records
	// the mtscn-node version that wrote it.
	AnnotationNodeAgentVersion = LabelPrefix + "node-agent-version"
	// AnnotationDemoNodeKind on a demo node describes the machine it
	// simulates (mtscnctl demo).
	AnnotationDemoNodeKind = "demo." + LabelPrefix + "kind"
)
