// Package ssh is the command tools of the catalogue: exec_ssh, on
// connections whose connector has the Exec capability (SSH hosts). A call
// is authorize (the gateway classifies the command with the connector's
// classifier, policy decides, a certificate is minted for the session),
// the connector's Exec of the command as the classifier rewrote it, and
// finish; output is masked as it streams and capped.
//
// It must never run a caller's raw text (only Facts.Canonical), nor return
// output the Grant's stream masker has not seen.
package ssh
