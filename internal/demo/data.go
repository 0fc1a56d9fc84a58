package demo

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"time"

	_ "modernc.org/sqlite" // the "sqlite" database/sql driver
)

// Sizes of the demo data.
const (
	Customers = 2000
	Orders    = 6000
)

var (
	firstNames = []string{"Ada", "Grace", "Alan", "Edsger", "Barbara", "Donald", "Frances", "John", "Margaret", "Ken",
		"Radia", "Dennis", "Hedy", "Linus", "Katherine", "Tim", "Sophie", "Guido", "Anita", "Bjarne", "Joan", "Niklaus",
		"Shafi", "Leslie", "Mary", "Vint", "Lynn", "Whitfield", "Annie", "Yukihiro", "Evelyn", "Rob"}
	lastNames = []string{"Lovelace", "Hopper", "Turing", "Dijkstra", "Liskov", "Knuth", "Allen", "McCarthy", "Hamilton",
		"Thompson", "Perlman", "Ritchie", "Lamarr", "Torvalds", "Johnson", "Berners-Lee", "Wilson", "van Rossum", "Borg",
		"Stroustrup", "Clarke", "Wirth", "Goldwasser", "Lamport", "Keller", "Cerf", "Conway", "Diffie", "Easley",
		"Matsumoto", "Boyd", "Pike"}
	domains   = []string{"example.com", "example.org", "example.net", "mail.example", "corp.example"}
	countries = []string{"US", "US", "US", "GB", "DE", "FR", "CA", "NL", "SE", "JP", "BR", "IN", "AU", "ES", "IT"}
	products  = []struct {
		name  string
		cents int
	}{{"Mechanical keyboard", 12900}, {"USB-C hub", 4900}, {"27\" monitor", 32900}, {"Noise-cancelling headphones", 24900},
		{"Laptop stand", 3900}, {"Webcam", 7900}, {"Desk lamp", 2900}, {"Ergonomic chair", 45900}, {"Standing desk", 59900},
		{"Wireless mouse", 2900}, {"Microphone", 11900}, {"Cable kit", 1900}}
	statuses = []string{"delivered", "delivered", "delivered", "shipped", "processing", "cancelled", "refunded"}
	notes    = []string{"", "", "", "Leave at the front door", "Gift wrap please", "Call before delivery",
		"Second order this month", "Customer asked about warranty", "Deliver after 5pm", "Fragile"}
)

// CreateDatabase writes the demo database at path unless a complete one is
// already there. It reports whether it created the file.
func CreateDatabase(ctx context.Context, path string) (bool, error) {
	if ok, err := complete(ctx, path); err != nil {
		return false, err
	} else if ok {
		return false, nil
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return false, fmt.Errorf("demo database: %w", err)
	}
	tmp := path + ".tmp"
	os.Remove(tmp)
	if err := write(ctx, tmp); err != nil {
		os.Remove(tmp)
		return false, fmt.Errorf("demo database %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return false, fmt.Errorf("demo database: %w", err)
	}
	return true, nil
}

// complete reports whether path holds a finished demo database.
func complete(ctx context.Context, path string) (bool, error) {
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
	if err != nil {
		return false, err
	}
	defer db.Close()
	var n int
	if err := db.QueryRowContext(ctx, "SELECT count(*) FROM orders").Scan(&n); err != nil {
		return false, fmt.Errorf("%s exists but is not a Warden demo database (%v); move it away or use --dir", path, err)
	}
	return n > 0, nil
}

const schema = `
CREATE TABLE customers (
  id          INTEGER PRIMARY KEY,
  name        TEXT NOT NULL,
  email       TEXT NOT NULL,
  phone       TEXT,
  card_number TEXT,
  ssn         TEXT,
  country     TEXT NOT NULL,
  created_at  TEXT NOT NULL
);
CREATE TABLE orders (
  id          INTEGER PRIMARY KEY,
  customer_id INTEGER NOT NULL REFERENCES customers(id),
  product     TEXT NOT NULL,
  quantity    INTEGER NOT NULL,
  total       REAL NOT NULL,
  status      TEXT NOT NULL,
  note        TEXT,
  ordered_at  TEXT NOT NULL
);
CREATE INDEX orders_customer ON orders(customer_id);
`

func write(ctx context.Context, path string) error {
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		return err
	}
	defer db.Close()
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, schema); err != nil {
		return err
	}
	r := rand.New(rand.NewPCG(2026, 11))
	base := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	cst, err := tx.PrepareContext(ctx, "INSERT INTO customers VALUES (?, ?, ?, ?, ?, ?, ?, ?)")
	if err != nil {
		return err
	}
	for id := 1; id <= Customers; id++ {
		first, last := firstNames[r.IntN(len(firstNames))], lastNames[r.IntN(len(lastNames))]
		email := fmt.Sprintf("%s.%s%d@%s", strings.ToLower(first), strings.ToLower(strings.ReplaceAll(last, " ", "")), r.IntN(100), domains[r.IntN(len(domains))])
		created := base.Add(time.Duration(r.IntN(600*24)) * time.Hour)
		if _, err := cst.ExecContext(ctx, id, first+" "+last, email, phone(r), card(r), ssn(r),
			countries[r.IntN(len(countries))], created.Format(time.RFC3339)); err != nil {
			return err
		}
	}
	ost, err := tx.PrepareContext(ctx, "INSERT INTO orders VALUES (?, ?, ?, ?, ?, ?, ?, ?)")
	if err != nil {
		return err
	}
	for id := 1; id <= Orders; id++ {
		p := products[r.IntN(len(products))]
		q := 1 + r.IntN(3)
		at := base.Add(time.Duration(r.IntN(700*24*60)) * time.Minute)
		if _, err := ost.ExecContext(ctx, id, 1+r.IntN(Customers), p.name, q, float64(p.cents*q)/100,
			statuses[r.IntN(len(statuses))], notes[r.IntN(len(notes))], at.Format(time.RFC3339)); err != nil {
			return err
		}
	}
	return tx.Commit()
}

// phone returns a number in the fictional 555-01xx range, in one of the
// formats people write.
func phone(r *rand.Rand) string {
	n := fmt.Sprintf("%03d", 200+r.IntN(700))
	line := fmt.Sprintf("01%02d", r.IntN(100))
	switch r.IntN(3) {
	case 0:
		return "+1" + n + "555" + line
	case 1:
		return "(" + n + ") 555-" + line
	}
	return n + "-555-" + line
}

// card returns a Luhn-valid number in a test range, grouped as printed.
func card(r *rand.Rand) string {
	prefixes := []string{"4111", "4242", "5555", "5105", "4000"}
	d := []byte(prefixes[r.IntN(len(prefixes))])
	for len(d) < 15 {
		d = append(d, byte('0'+r.IntN(10)))
	}
	d = append(d, luhnDigit(d))
	s := string(d)
	if r.IntN(2) == 0 {
		return s[0:4] + "-" + s[4:8] + "-" + s[8:12] + "-" + s[12:16]
	}
	return s
}

func luhnDigit(d []byte) byte {
	sum := 0
	for i := len(d) - 1; i >= 0; i-- {
		v := int(d[i] - '0')
		if (len(d)-1-i)%2 == 0 {
			v *= 2
			if v > 9 {
				v -= 9
			}
		}
		sum += v
	}
	return byte('0' + (10-sum%10)%10)
}

// ssn returns a number in a valid SSN range (area 001-665 or 667-899,
// group 01-99, serial 0001-9999).
func ssn(r *rand.Rand) string {
	area := 1 + r.IntN(898)
	if area == 666 {
		area = 667
	}
	return fmt.Sprintf("%03d-%02d-%04d", area, 1+r.IntN(99), 1+r.IntN(9999))
}
