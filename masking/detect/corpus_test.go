package detect

import (
	"fmt"
	"math/rand/v2"
	"strings"
)

// mixedCorpus generates the values of a realistic result set: rows of a
// customers/orders/events join as a proxy sees them, text columns, numbers,
// timestamps, JSON from row_to_json, array literals. About one value in
// fifteen holds something sensitive. It is deterministic.
func mixedCorpus(rows int) []string {
	r := rand.New(rand.NewPCG(1, 2))
	first := []string{"Maria", "John", "Wei", "Fatima", "Olga", "Carlos", "Aiko", "Liam", "Noah", "Emma", "José", "Zoë"}
	last := []string{"Garcia", "Smith", "Chen", "Khan", "Ivanova", "Silva", "Tanaka", "Murphy", "Müller", "Dubois"}
	streets := []string{"Elm Street", "Main St", "Oak Avenue", "Rue de Rivoli", "Baker Street", "Hauptstraße"}
	cities := []string{"Springfield, IL", "Portland, OR", "London", "Paris", "Berlin", "Austin, TX"}
	status := []string{"pending", "shipped", "delivered", "cancelled", "refunded"}
	words := strings.Fields("the customer asked about delivery times and was told that the parcel had left our " +
		"warehouse on schedule but the carrier reported a delay due to weather please follow up next week " +
		"with an update refund approved after review item damaged in transit replacement sent order " +
		"merged with previous one address corrected by support team")
	pick := func(xs []string) string { return xs[r.IntN(len(xs))] }
	sentence := func(n int) string {
		var b strings.Builder
		for i := range n {
			if i > 0 {
				b.WriteByte(' ')
			}
			b.WriteString(pick(words))
		}
		b.WriteByte('.')
		return b.String()
	}
	ts := func() string {
		return fmt.Sprintf("2024-%02d-%02d %02d:%02d:%02d.%06d+00", 1+r.IntN(12), 1+r.IntN(28),
			r.IntN(24), r.IntN(60), r.IntN(60), r.IntN(1000000))
	}
	uuid := func() string {
		return fmt.Sprintf("%08x-%04x-4%03x-a%03x-%012x", r.Uint32(), r.IntN(1<<16), r.IntN(1<<12), r.IntN(1<<12), r.Uint64()&(1<<48-1))
	}
	email := func(fn, ln string) string {
		return strings.ToLower(fn+"."+ln) + fmt.Sprintf("%d@example.com", r.IntN(100))
	}
	card := func() string { return withLuhn(fmt.Sprintf("4%014d", r.Int64N(1e14))) }
	var out []string
	for range rows {
		fn, ln := pick(first), pick(last)
		out = append(out,
			fmt.Sprint(100000+r.IntN(900000)),
			uuid(),
			fn+" "+ln,
			fmt.Sprintf("%d %s, Apt %d%c", 1+r.IntN(9999), pick(streets), 1+r.IntN(30), 'A'+rune(r.IntN(6))),
			fmt.Sprintf("%s %05d", pick(cities), r.IntN(100000)),
			ts(),
			fmt.Sprintf("%d.%02d", r.IntN(5000), r.IntN(100)),
			pick(status),
		)
		// Free text, now and then with a contact detail pasted in.
		note := sentence(4 + r.IntN(30))
		switch x := r.IntN(100); {
		case x < 3:
			note += " Contact " + email(fn, ln)
		case x < 5:
			note += " Call back on (415) 555-" + fmt.Sprintf("%04d", r.IntN(10000))
		case x < 6:
			note += " Paid with " + card()
		}
		out = append(out, note)
		// row_to_json of an event.
		ip := fmt.Sprintf("10.%d.%d.%d", r.IntN(256), r.IntN(256), r.IntN(256))
		if r.IntN(5) != 0 {
			ip = "unknown"
		}
		out = append(out, fmt.Sprintf(`{"event":"%s","at":"%s","ip":"%s","ua":"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36","score":0.%03d,"tags":["web","v2"],"items":[%d,%d]}`,
			pick(status), ts(), ip, r.IntN(1000), r.IntN(100), r.IntN(100)))
		out = append(out, fmt.Sprintf(`{%s,%s,"%s %s"}`, pick(status), pick(status), pick(words), pick(words)))
		// Sensitive columns, sometimes.
		if r.IntN(10) == 0 {
			out = append(out, email(fn, ln))
		}
		if r.IntN(10) == 0 {
			out = append(out, fmt.Sprintf("+1415555%04d", r.IntN(10000)))
		}
		switch r.IntN(200) {
		case 0, 1, 2:
			out = append(out, card())
		case 3, 4:
			out = append(out, fmt.Sprintf("%03d-%02d-%04d", 1+r.IntN(600), 1+r.IntN(98), 1+r.IntN(9998)))
		case 5:
			out = append(out, "GB82 WEST 1234 5698 7654 32")
		case 6:
			out = append(out, jwtExample)
		case 7:
			out = append(out, "AWS_ACCESS_KEY_ID=AKIAIOSFODNN7EXAMPLE")
		case 8:
			out = append(out, "host=db.internal port=5432 password=Xk9#mP2$vL8q sslmode=require")
		}
	}
	return out
}

// hitCorpus returns values that each hold one match of kind.
func hitCorpus(kind Kind) []string {
	switch kind {
	case Card:
		return []string{"4111111111111111", "card 4111 1111 1111 1111 exp 12/27", `{"pan":5555555555554444}`}
	case Email:
		return []string{"john.doe@example.com", "Contact: a+tag@sub.example.co.uk.", `{"e":"x@example.org"}`}
	case Phone:
		return []string{"+14155552671", "call (415) 555-2671 today", "+44 20 7946 0958"}
	case SSN:
		return []string{"123-45-6789", "SSN: 078-05-1120", `{"ssn":"234567890"}`}
	case IBAN:
		return []string{"GB82WEST12345698765432", "IBAN DE89 3704 0044 0532 0130 00", "NL91ABNA0417164300"}
	case IPv4:
		return []string{"10.0.0.1", "from 192.168.1.254:5432", `{"ip":"172.16.5.4"}`}
	case IPv6:
		return []string{"2001:db8::8a2e:370:7334", "addr fe80::1%eth0", `{"ip":"2001:db8::2"}`}
	case JWT:
		return []string{jwtExample, "Bearer " + jwtExample}
	case PEMPrivateKey:
		return []string{"-----BEGIN RSA PRIVATE KEY-----\n" + pemBody + "-----END RSA PRIVATE KEY-----"}
	case APIKey:
		return []string{"AKIAIOSFODNN7EXAMPLE", "token ghp_abcdefghijABCDEFGHIJ0123456789abcdef", "sk_live_4eC39HqLyjWDarjtT1zdp7dc"}
	case Secret:
		return []string{"password=Xk9#mP2$vL8q", `{"api_key":"9f86d081884c7d65"}`, "postgres://app:s3cret@db/app"}
	}
	return nil
}
