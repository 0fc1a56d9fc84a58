// Package mysql is the MySQL and MariaDB wire-protocol proxy, front door
// 2 for mysql connections: `mysql`, `mariadb` and drivers log in with a
// token from `warden connect` as the password and the connection's name
// as the user name, and every statement they send is a run_query
// operation of the gateway (a gateway.Session per client connection;
// Classify, Authorize and the Grant's Finish per statement), run on the
// session's just-in-time user through connectors/mysql (Dial).
//
// The protocol's server side is vitess's (vitess.io/vitess/go/mysql:
// Listener, Handler, AuthServer), fed one connection at a time by Serve;
// the upstream side is vitess's client (Conn.ExecuteStreamFetch), whose
// rows stream to the client in batches through masking.
//
// This package must never send a statement to the target that the
// gateway did not authorize, or a row before its masker exists; never log
// a token, a statement's values or a raw protocol packet; never carry
// session state (SET, user variables, transactions, a database change)
// from one statement's decision into another's; and never let a client
// reach another identity's connection (KILL).
package mysql
