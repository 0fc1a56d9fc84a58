package detect

// API keys and access tokens with a recognisable prefix (kind "api_key").
//
// Matched, at the start of a run of [A-Za-z0-9_.-] (so after a space,
// quote, '=', ':', '/' ... or the tail of an escape sequence), when the
// body after the prefix has the vendor's length and alphabet:
//
//	AWS access key id     AKIA, ASIA + 16 [A-Z0-9]
//	GitHub                ghp_ gho_ ghu_ ghs_ ghr_ + 36+ [A-Za-z0-9];
//	                      github_pat_ + 22+ [A-Za-z0-9_]
//	GitLab                glpat- glrt- + 20+ [A-Za-z0-9_-]
//	Slack                 xoxa- xoxb- xoxp- xoxr- xoxs- xoxe- xapp- + 10+ [A-Za-z0-9-] with a digit
//	Stripe                sk_live_ rk_live_ sk_test_ rk_test_ + 16+ [A-Za-z0-9]; whsec_ + 32+
//	Google API key        AIza + 35 [A-Za-z0-9_-]; OAuth client secret GOCSPX- + 28
//	Anthropic             sk-ant- + 32+ [A-Za-z0-9_-]
//	OpenAI                sk- + 20+ [A-Za-z0-9_-] with a digit (sk-proj-... included)
//	npm                   npm_ + 36 [A-Za-z0-9]
//	SendGrid              SG. + 22 + '.' + 43 [A-Za-z0-9_-]
//	Twilio API key        SK + 32 [0-9a-f]
//	Hugging Face          hf_ + 30-40 [A-Za-z0-9]
//	DigitalOcean          dop_v1_ doo_v1_ dor_v1_ + 64 [0-9a-f]
//	Shopify               shpat_ shpss_ shpca_ shppa_ + 32 [0-9a-fA-F]
//	PyPI                  pypi-AgEIcHlwaS5vcmc + 50+ [A-Za-z0-9_-]
//	age secret key        AGE-SECRET-KEY-1 + 58 [A-Z0-9]
//	Databricks            dapi + 32 [0-9a-f]
//	Linear                lin_api_ + 40 [A-Za-z0-9]
//	Square                sq0atp- + 22, sq0csp- + 43 [A-Za-z0-9_-]
//
// A fixed-length body followed by more body bytes is not a key. Keys glued
// to a preceding word ("my_ghp_...") are not found; the secret detector
// still catches them in key=value shapes.

type bodyClass uint8

const (
	bAlnum      bodyClass = iota // [A-Za-z0-9]
	bUpperDigit                  // [A-Z0-9]
	bURL                         // [A-Za-z0-9_-]
	bWord                        // [A-Za-z0-9_]
	bDash                        // [A-Za-z0-9-]
	bHexLower                    // [0-9a-f]
	bHex                         // [0-9a-fA-F]
	bSendGrid                    // [A-Za-z0-9_.-]
)

func (b bodyClass) has(c byte) bool {
	switch b {
	case bAlnum:
		return isAlnum(c)
	case bUpperDigit:
		return isUpper(c) || isDigit(c)
	case bURL:
		return isAlnum(c) || c == '_' || c == '-'
	case bWord:
		return isWordByte(c)
	case bDash:
		return isAlnum(c) || c == '-'
	case bHexLower:
		return isDigit(c) || c-'a' < 6
	case bHex:
		return isHex(c)
	case bSendGrid:
		return isTokByte(c)
	}
	return false
}

type keyRule struct {
	prefix   string
	min, max int // body length after the prefix
	class    bodyClass
	digit    bool // the body must contain a digit
}

// keyRules lists the rules; where one prefix begins another, the longer
// comes first.
var keyRules = [...]keyRule{
	{"AKIA", 16, 16, bUpperDigit, false},
	{"ASIA", 16, 16, bUpperDigit, false},
	{"AIza", 35, 35, bURL, false},
	{"AGE-SECRET-KEY-1", 58, 58, bUpperDigit, false},
	{"ghp_", 36, 251, bAlnum, false},
	{"gho_", 36, 251, bAlnum, false},
	{"ghu_", 36, 251, bAlnum, false},
	{"ghs_", 36, 251, bAlnum, false},
	{"ghr_", 36, 251, bAlnum, false},
	{"github_pat_", 22, 255, bWord, false},
	{"glpat-", 20, 255, bURL, false},
	{"glrt-", 20, 255, bURL, false},
	{"GOCSPX-", 28, 28, bURL, false},
	{"xoxa-", 10, 255, bDash, true},
	{"xoxb-", 10, 255, bDash, true},
	{"xoxp-", 10, 255, bDash, true},
	{"xoxr-", 10, 255, bDash, true},
	{"xoxs-", 10, 255, bDash, true},
	{"xoxe-", 10, 255, bDash, true},
	{"xapp-", 10, 255, bDash, true},
	{"sk_live_", 16, 255, bAlnum, false},
	{"rk_live_", 16, 255, bAlnum, false},
	{"sk_test_", 16, 255, bAlnum, false},
	{"rk_test_", 16, 255, bAlnum, false},
	{"whsec_", 32, 255, bAlnum, false},
	{"sk-ant-", 32, 255, bURL, false},
	{"sk-", 20, 255, bURL, true},
	{"npm_", 36, 36, bAlnum, false},
	{"SG.", 66, 66, bSendGrid, false},
	{"SK", 32, 32, bHexLower, false},
	{"hf_", 30, 40, bAlnum, false},
	{"dop_v1_", 64, 64, bHexLower, false},
	{"doo_v1_", 64, 64, bHexLower, false},
	{"dor_v1_", 64, 64, bHexLower, false},
	{"shpat_", 32, 32, bHex, false},
	{"shpss_", 32, 32, bHex, false},
	{"shpca_", 32, 32, bHex, false},
	{"shppa_", 32, 32, bHex, false},
	{"pypi-AgEIcHlwaS5vcmc", 50, 255, bURL, false},
	{"dapi", 32, 32, bHexLower, false},
	{"lin_api_", 40, 40, bAlnum, false},
	{"sq0atp-", 22, 22, bURL, false},
	{"sq0csp-", 43, 43, bURL, false},
}

// keyFirst marks the first bytes of the prefixes.
var keyFirst = func() (t [256]bool) {
	for _, r := range keyRules {
		t[r.prefix[0]] = true
	}
	return t
}()

// parseAPIKey parses a key at the start of the token run s[i:j].
func parseAPIKey(s string, i, j int) int {
	if !keyFirst[s[i]] {
		return -1
	}
	run := s[i:j]
	for k := range keyRules {
		r := &keyRules[k]
		if len(run) < len(r.prefix)+r.min || run[:len(r.prefix)] != r.prefix {
			continue
		}
		if e := r.body(s, i+len(r.prefix)); e > 0 {
			return e
		}
	}
	return -1
}

// body returns the end of a valid body starting at p, or -1.
func (r *keyRule) body(s string, p int) int {
	q, digit := p, false
	for q < len(s) && q-p <= r.max && r.class.has(s[q]) {
		digit = digit || isDigit(s[q])
		q++
	}
	l := q - p
	if l < r.min || l > r.max || (r.digit && !digit) {
		return -1
	}
	if r.class == bSendGrid && (s[p+22] != '.' || countDots(s[p:q]) != 1) {
		return -1
	}
	if q < len(s) && isAlnum(s[q]) {
		return -1
	}
	return q
}
