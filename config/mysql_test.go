package config

import (
	"strings"
	"testing"
)

func TestMySQLConnection(t *testing.T) {
	yaml := `connections:
  - name: shop
    kind: mysql
    address: db.internal:3306
    database: shop
    sslmode: verify-full
    admin: {user: warden_admin, password_env: SHOP_PASSWORD}
    credentials: jit
    jit: {ttl: 30m, connection_limit: 2}
    max_connections: 8
    labels: {env: prod}
`
	cfg, err := Parse("w.yaml", []byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	shop, _ := cfg.Connection("shop")
	if shop.Kind != KindMySQL || shop.Credentials != "jit" || shop.JIT.ConnectionLimit != 2 || shop.MaxConnections != 8 ||
		shop.ReservedConnections != DefaultReservedConnections || shop.ConnectionWait != DefaultConnectionWait {
		t.Errorf("shop = %+v", shop)
	}
	if w := cfg.Warnings(); len(w) != 0 {
		t.Errorf("warnings %v", w)
	}
	static := strings.Replace(yaml, "credentials: jit", "credentials: static", 1)
	cfg, err = Parse("w.yaml", []byte(static))
	if err != nil {
		t.Fatal(err)
	}
	if w := cfg.Warnings(); len(w) != 1 || !strings.Contains(w[0], `connection "shop" uses static credentials`) {
		t.Errorf("static mysql connection: warnings %v", w)
	}
}

func TestMySQLErrors(t *testing.T) {
	conn := func(fields string) string {
		return "connections:\n  - {name: m, kind: mysql, " + fields + "}\n"
	}
	ok := "address: 'h:3306', database: d, admin: {user: u, password_env: P}"
	tests := []struct {
		name string
		yaml string
		want string
	}{
		{"no address", conn("database: d, admin: {user: u, password_env: P}"), "address (host:port) is required for a mysql connection"},
		{"bad address", conn("address: h, database: d, admin: {user: u, password_env: P}"), `connections[0].address: expected host:port, got "h"`},
		{"no database", conn("address: 'h:3306', admin: {user: u, password_env: P}"), "database is required for a mysql connection"},
		{"no admin user", conn("address: 'h:3306', database: d, admin: {password_env: P}"), "connections[0].admin.user is required for a mysql connection"},
		{"no secret", conn("address: 'h:3306', database: d, admin: {user: u}"), "password_env or password_file is required"},
		{"sslmode allow", conn(ok + ", sslmode: allow"), `sslmode: expected one of disable, prefer, require, verify-ca, verify-full for a mysql connection, got "allow"`},
		{"path", conn(ok + ", path: x.db"), "a mysql connection has an address and database, not a path"},
		{"ssh fields", conn(ok + ", principals: [a]"), "host_key, host_ca and principals are for ssh connections, not mysql"},
		{"unknown kind", "connections:\n  - {name: m, kind: mariadb}\n", "expected postgres, mysql, sqlite, ssh or kubernetes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("w.yaml", []byte(tt.yaml))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want it to contain %q", err, tt.want)
			}
		})
	}
}
