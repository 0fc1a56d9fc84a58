// Package ssh is Warden's SSH proxy: an SSH server (golang.org/x/crypto/ssh)
// that people and scripts reach with the OpenSSH client unchanged, as
//
//	ssh -p PORT [principal@]connection@warden-host [command]
//
// A client logs in with a Warden token (`warden connect CONNECTION` prints
// one; password or keyboard-interactive authentication, inside the
// encrypted channel) or, when OIDC is configured, an access token as the
// password. Each session channel is an operation of the gateway, decided
// and recorded like the MCP tool's:
//
//   - exec: the command line is classified (policy/cmdclass) and decided as
//     exec_ssh; what runs on the host is the re-quoted canonical line;
//   - shell: an interactive login shell is the operation ssh_shell, which
//     policy allows, denies or sends to review like any other (a shell's
//     commands are not classified: admitting ssh_shell admits what the
//     account can do, as admitting the exec kind does);
//   - subsystem sftp: the operation ssh_sftp, refused unless a rule names
//     it.
//
// The host sees a just-in-time certificate minted for the decision; its
// output is masked by the decision's detectors on its way to the client
// and into the session's recording (asciicast). Port forwarding
// (direct-tcpip, tcpip-forward, streamlocal), agent and X11 forwarding,
// environment variables beyond an allow-list and other subsystems are
// refused and audited.
package ssh
