package witness

import (
	"fmt"
	"strings"

	"golang.org/x/mod/sumdb/note"
)

// PolicyHeader is the first line of a trial's signed witness policy: a
// note signed by the log's own key whose text is this line followed by the
// policy (Marshal). Signed by the log key, it binds the policy to the
// trial's signed state: a package carries it and says which policy
// applied when it was made.
const PolicyHeader = "trialog witness policy v1"

// PolicyNoteText is the text to sign for p as the policy of the log whose
// verifier key is logKey.
func PolicyNoteText(p *Policy, logKey string) string {
	return PolicyHeader + "\n" + string(p.Marshal(logKey))
}

// OpenSignedPolicy verifies a signed policy note with the log's verifier
// key and parses the policy.
func OpenSignedPolicy(logVerifier note.Verifier, signed []byte) (*Policy, error) {
	n, err := note.Open(signed, note.VerifierList(logVerifier))
	if err != nil {
		return nil, fmt.Errorf("%w: signed policy does not verify with the log's key: %v", ErrPolicy, err)
	}
	body, ok := strings.CutPrefix(n.Text, PolicyHeader+"\n")
	if !ok {
		return nil, fmt.Errorf("%w: not a trialog witness policy note", ErrPolicy)
	}
	return ParsePolicy([]byte(body))
}
