package detect

// Kind names a detector, and so the kind of sensitive value it finds. The
// names are stable: they appear in configuration, in redactions such as
// "[REDACTED:email]", in tokens and in audit counts.
type Kind string

// The built-in detectors.
const (
	Card          Kind = "card"
	Email         Kind = "email"
	Phone         Kind = "phone"
	SSN           Kind = "ssn"
	IBAN          Kind = "iban"
	IPv4          Kind = "ipv4"
	IPv6          Kind = "ipv6"
	JWT           Kind = "jwt"
	PEMPrivateKey Kind = "pem_private_key"
	APIKey        Kind = "api_key"
	Secret        Kind = "secret"
)

// Secrets is a configuration alias, not a detector: in Config.Kinds it
// stands for api_key, jwt, pem_private_key and secret.
const Secrets Kind = "secrets"

// kindIndex numbers the detectors. The order is the priority used when
// overlapping candidates are equally long (lower wins): the more specific
// and more dangerous kinds first.
type kindIndex uint8

const (
	kPEM kindIndex = iota
	kJWT
	kAPIKey
	kSecret
	kIBAN
	kCard
	kEmail
	kIPv6
	kSSN
	kPhone
	kIPv4
	numKinds
)

var kindNames = [numKinds]Kind{
	kPEM: PEMPrivateKey, kJWT: JWT, kAPIKey: APIKey, kSecret: Secret,
	kIBAN: IBAN, kCard: Card, kEmail: Email, kIPv6: IPv6,
	kSSN: SSN, kPhone: Phone, kIPv4: IPv4,
}

// AllKinds returns every built-in detector kind, most specific first.
func AllKinds() []Kind {
	out := make([]Kind, numKinds)
	copy(out, kindNames[:])
	return out
}

// indexOf maps a kind name to its index.
func indexOf(k Kind) (kindIndex, bool) {
	switch k {
	case PEMPrivateKey:
		return kPEM, true
	case JWT:
		return kJWT, true
	case APIKey:
		return kAPIKey, true
	case Secret:
		return kSecret, true
	case IBAN:
		return kIBAN, true
	case Card:
		return kCard, true
	case Email:
		return kEmail, true
	case IPv6:
		return kIPv6, true
	case SSN:
		return kSSN, true
	case Phone:
		return kPhone, true
	case IPv4:
		return kIPv4, true
	}
	return 0, false
}

// kindSet is a set of detector indexes.
type kindSet uint16

func (s kindSet) has(k kindIndex) bool { return s&(1<<k) != 0 }

func setOf(ks ...kindIndex) kindSet {
	var s kindSet
	for _, k := range ks {
		s |= 1 << k
	}
	return s
}
