package masking

import (
	"context"
	"fmt"
)

// ErrorMasker is implemented by Maskers that also keep masked values out
// of the target's error messages. PostgreSQL quotes the offending value in
// many errors ("invalid input syntax for type integer: "219-09-9999"",
// "Key (ssn)=(...) already exists"), so a statement that fails on a masked
// column, in its WHERE clause as much as in its output, would otherwise
// return the value in the error.
type ErrorMasker interface {
	// MaskError returns what of a target error the caller may see. req
	// is the call's masking request (Profile, Subject, Groups,
	// Connection); code is the SQLSTATE.
	MaskError(ctx context.Context, req Request, code, message, detail, hint string) (string, string, string)
}

// quotesNoData lists the SQLSTATE classes whose messages name objects,
// types and states but never quote a row's value. Under column rules, the
// text of any other error is withheld.
var quotesNoData = map[string]bool{
	"08": true, // connection exception
	"0A": true, // feature not supported
	"25": true, // invalid transaction state (read-only transaction)
	"28": true, // invalid authorization
	"3D": true, // invalid catalog name
	"3F": true, // invalid schema name
	"40": true, // transaction rollback (serialization, deadlock)
	"42": true, // syntax error or access rule violation (undefined column, permission)
	"53": true, // insufficient resources
	"54": true, // program limit exceeded
	"55": true, // object not in prerequisite state
	"57": true, // operator intervention (statement timeout, cancel)
}

// MaskError implements ErrorMasker. Under a profile whose column rules
// apply to the caller, an error of a class that may quote values loses its
// text (the SQLSTATE stays, so the agent still knows what kind of error it
// was); every other text goes through the profile's detectors.
func (e *Engine) MaskError(_ context.Context, req Request, code, message, detail, hint string) (string, string, string) {
	if req.Profile == "" {
		return message, detail, hint
	}
	prof, ok := e.profiles[req.Profile]
	if !ok {
		return "the database's error message is withheld (unknown masking profile)", "", ""
	}
	conn := e.connection(req.Connection)
	class := ""
	if len(code) >= 2 {
		class = code[:2]
	}
	if len(prof.active(req.Subject, req.Groups, conn)) > 0 && !quotesNoData[class] {
		return fmt.Sprintf("the database's error message is withheld because it may quote a masked value (SQLSTATE %s)", code), "", ""
	}
	if prof.scanner == nil {
		return message, detail, hint
	}
	mask := func(s string) string {
		out, _, null := prof.scanner.Mask(s, nil)
		if null {
			return "[withheld]"
		}
		return out
	}
	return mask(message), mask(detail), mask(hint)
}

var _ ErrorMasker = (*Engine)(nil)
