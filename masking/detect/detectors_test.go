package detect

import (
	"encoding/base64"
	"strings"
	"testing"
)

func TestCard(t *testing.T) {
	visa19 := withLuhn("411111111111111111")
	unknownIIN := withLuhn("123456789012345")
	badLuhn := "4111111111111112"
	runDetectorCases(t, Card, []detectorCase{
		hit("visa", "4111111111111111"),
		hit("visa 13", "4222222222222"),
		hit("visa 19", visa19),
		hit("mastercard", "pay 5555555555554444 now", "5555555555554444"),
		hit("mastercard 2-series", "2223003122003222"),
		hit("amex", "378282246310005"),
		hit("discover", "6011111111111117"),
		hit("jcb", "3530111333300000"),
		hit("diners", "30569309025904"),
		hit("unionpay", "6200000000000005"),
		hit("spaces", "card: 4111 1111 1111 1111.", "4111 1111 1111 1111"),
		hit("dashes", "4111-1111-1111-1111"),
		hit("amex grouped", "3782 822463 10005"),
		hit("diners grouped", "3056 930902 5904"),
		hit("grouped then year", "4111 1111 1111 1111 2025", "4111 1111 1111 1111"),
		hit("year then grouped", "2025 4111 1111 1111 1111", "4111 1111 1111 1111"),
		hit("grouped unknown IIN, Luhn ok", unknownIIN[:4]+" "+unknownIIN[4:8]+" "+unknownIIN[8:12]+" "+unknownIIN[12:]),
		hit("json number", `{"n":4111111111111111}`, "4111111111111111"),
		hit("after escape", `"a\n4111111111111111"`, "4111111111111111"),
		hit("after \\u escape", `"\u00a04111111111111111"`, "4111111111111111"),
		hit("pg array", `{4111111111111111,5555555555554444}`, "4111111111111111", "5555555555554444"),
		miss("luhn fails", badLuhn),
		miss("luhn fails grouped", "4111 1111 1111 1112"),
		miss("unknown IIN contiguous", unknownIIN),
		miss("order id", "ORD-"+"4111111111111111"),
		miss("glued to letters", "x4111111111111111"),
		miss("glued after", "4111111111111111abc"),
		miss("20 digits", "41111111111111111111"),
		miss("decimal", "1.4111111111111111"),
		miss("decimal tail", "4111111111111111.5"),
		miss("negative", "-4111111111111111"),
		miss("timestamp digits", "20240115102345123"),
		miss("epoch millis", "1705312345123"),
		miss("uuid", "550e8400-e29b-41d4-a716-446655440000"),
		miss("mixed separators", "4111 1111-1111 1111"),
		miss("wrong grouping", "41111 1111 1111 111"),
		miss("phone", "+14155552671"),
		miss("iso timestamp", "2024-01-15T10:23:45.123456Z"),
	})
}

func TestEmail(t *testing.T) {
	runDetectorCases(t, Email, []detectorCase{
		hit("plain", "john.doe@example.com"),
		hit("in text", "write to a+tag@sub.example.co.uk, thanks", "a+tag@sub.example.co.uk"),
		hit("mailto", "mailto:jane@example.org", "jane@example.org"),
		hit("utf8", "josé@exämple.com"),
		hit("punycode tld", "x@example.xn--p1ai"),
		hit("json", `{"email":"JOHN@EXAMPLE.COM"}`, "JOHN@EXAMPLE.COM"),
		hit("json \\u0040", `{"e":"john\u0040example.com"}`, `john\u0040example.com`),
		hit("after \\n escape", `"line\njohn@example.com"`, "john@example.com"),
		hit("pg array", `{a@example.com,"b@example.com"}`, "a@example.com", "b@example.com"),
		hit("trailing dot", "mail john@example.com.", "john@example.com"),
		hit("git remote", "git@github.com:org/repo.git", "git@github.com"),
		miss("no dot", "root@localhost"),
		miss("numeric tld", "lodash@4.17.21"),
		miss("image", "icon@2x.png"),
		miss("no local", "@example.com"),
		miss("no domain", "john@"),
		miss("one-letter tld", "a@b.c"),
		miss("handle", "ping @alice please"),
		miss("url password", "postgres://user:pw@db.example.com/app"),
		miss("double dot", "john..doe@example.com"),
		miss("escaped backslash then u0040", `john\\u0040example.com`),
	})
}

func TestPhone(t *testing.T) {
	runDetectorCases(t, Phone, []detectorCase{
		hit("e164", "+14155552671"),
		hit("e164 in text", "call +14155552671.", "+14155552671"),
		hit("uk international", "+44 20 7946 0958"),
		hit("us international", "+1 (415) 555-2671"),
		hit("trunk in parens", "+44 (0)20 7946 0958"),
		hit("german", "+49 30 123456"),
		hit("paren", "(415) 555-2671"),
		hit("paren tight", "(415)555-2671"),
		hit("dashes", "415-555-2671"),
		hit("dots", "415.555.2671"),
		hit("spaces", "415 555 2671"),
		hit("space dash", "415 555-2671"),
		hit("leading 1", "1-800-555-0199"),
		hit("uk national", "020 7946 0958"),
		hit("uk mobile", "07700 900123"),
		hit("french", "01 23 45 67 89"),
		hit("french dots", "01.23.45.67.89"),
		hit("json", `{"phone":"415-555-2671"}`, "415-555-2671"),
		miss("plain integer", "4155552671"),
		miss("id", "order 123456789012"),
		miss("iso date", "2024-01-15"),
		miss("time", "12:30:45"),
		miss("timestamp", "2024-01-15 10:23:45.123+00"),
		miss("tz", "+05:30"),
		miss("zero tz", "+0000"),
		miss("short e164", "+1234567"),
		miss("area starts with 1", "123-456-7890"),
		miss("exchange starts with 0", "415-055-2671"),
		miss("too long", "415-555-26710"),
		miss("continues", "415-555-2671-99"),
		miss("version", "10.15.7"),
		miss("ip", "192.168.100.200"),
		miss("glued", "INV-415-555-2671"),
		miss("mixed separators", "415-555.2671"),
		miss("french dots wrong", "01.23.45.678.90"),
		miss("dotted date", "01.02.2024"),
		miss("undelimited national", "02079460958"),
		miss("double zero", "00 12 34 56 78"),
	})
}

func TestSSN(t *testing.T) {
	runDetectorCases(t, SSN, []detectorCase{
		hit("dashed", "123-45-6789"),
		hit("spaced", "123 45 6789"),
		hit("in text", "SSN: 078-05-1120.", "078-05-1120"),
		hit("bare with hint", "ssn 123456789", "123456789"),
		hit("bare in json", `{"ssn":"123456789"}`, "123456789"),
		hit("bare social", "Social Security Number: 234567890", "234567890"),
		miss("area 000", "000-12-3456"),
		miss("area 666", "666-12-3456"),
		miss("area 9xx", "900-12-3456"),
		miss("area 999", "999-12-3456"),
		miss("group 00", "123-00-4567"),
		miss("serial 0000", "123-45-0000"),
		miss("bare without hint", "123456789"),
		miss("bare with hint far away", "ssn"+strings.Repeat(" ", 60)+"123456789"),
		miss("bare invalid", "ssn 000456789"),
		miss("too long", "123-45-67890"),
		miss("continues", "123-45-6789-1"),
		miss("mixed separators", "123-45 6789"),
		miss("date", "2024-01-15"),
		miss("phone", "415-555-2671"),
		miss("glued", "A123-45-6789"),
	})
}

func TestIBAN(t *testing.T) {
	runDetectorCases(t, IBAN, []detectorCase{
		hit("gb", "GB82WEST12345698765432"),
		hit("gb grouped", "GB82 WEST 1234 5698 7654 32"),
		hit("de", "DE89370400440532013000"),
		hit("de grouped", "IBAN: DE89 3704 0044 0532 0130 00.", "DE89 3704 0044 0532 0130 00"),
		hit("fr", "FR1420041010050500013M02606"),
		hit("nl", "NL91ABNA0417164300"),
		hit("no", "NO9386011117947"),
		hit("json", `{"iban":"CH9300762011623852957"}`, "CH9300762011623852957"),
		miss("checksum", "GB82WEST12345698765433"),
		miss("short", "GB82WEST1234569876543"),
		miss("long", "GB82WEST123456987654321"),
		miss("country", "XX82WEST12345698765432"),
		miss("lower case", "gb82west12345698765432"),
		miss("glued", "AGB82WEST12345698765432"),
		miss("check digits 00", "GB00WEST12345698765432"),
		miss("bad grouping", "GB82 WEST12 345698765432"),
	})
}

func TestIPv4(t *testing.T) {
	runDetectorCases(t, IPv4, []detectorCase{
		hit("private", "10.0.0.1"),
		hit("with port", "db at 192.168.1.254:5432", "192.168.1.254"),
		hit("cidr", "10.0.0.0/8", "10.0.0.0"),
		hit("public", "8.8.8.8"),
		hit("bare version-like", "1.2.3.4"),
		hit("json", `{"ip":"172.16.5.4"}`, "172.16.5.4"),
		hit("range", "10.0.0.1-10.0.0.255"),
		miss("octet > 255", "256.1.1.1"),
		miss("three parts", "1.2.3"),
		miss("five parts", "1.2.3.4.5"),
		miss("oid", "1.3.6.1.4.1.311"),
		miss("leading zeros", "01.02.03.04"),
		miss("v prefix", "v1.2.3.4"),
		miss("version word", "version 1.2.3.4"),
		miss("version json", `{"version":"1.2.3.4"}`),
		miss("pre-release", "1.2.3.4-beta"),
		miss("build", "1.2.3.4+b7"),
		miss("decimal", "3.14159"),
		miss("glued", "a10.0.0.1"),
	})
}

func TestIPv6(t *testing.T) {
	runDetectorCases(t, IPv6, []detectorCase{
		hit("compressed", "2001:db8::8a2e:370:7334"),
		hit("link local", "fe80::1"),
		hit("zone", "fe80::1%eth0", "fe80::1"),
		hit("full", "2001:0db8:85a3:0000:0000:8a2e:0370:7334"),
		hit("mapped", "::ffff:192.0.2.1"),
		hit("brackets and port", "[2001:db8::1]:8080", "2001:db8::1"),
		hit("after key", "ip:2001:db8::1", "2001:db8::1"),
		hit("trailing", "2001:db8::", "2001:db8::"),
		hit("json", `{"ip":"2001:db8::2"}`, "2001:db8::2"),
		miss("loopback", "::1"),
		miss("unspecified", "::"),
		miss("time", "12:34:56"),
		miss("mac", "00:1a:2b:3c:4d:5e"),
		miss("no digits", "dead::beef"),
		miss("c++", "std::vector"),
		miss("perl", "Foo::Bar::Baz"),
		miss("triple colon", "2001:db8:::1"),
		miss("two double colons", "2001::db8::1"),
		miss("group too long", "2001:db8::12345"),
		miss("seven groups", "1:2:3:4:5:6:7"),
		miss("glued", "x2001:db8::1"),
	})
}

const jwtExample = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiaWF0IjoxNTE2MjM5MDIyfQ.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c"

func TestJWT(t *testing.T) {
	const algNone = "eyJhbGciOiJub25lIn0.eyJzdWIiOiIxIn0."
	runDetectorCases(t, JWT, []detectorCase{
		hit("jwt.io", jwtExample),
		hit("bearer", "Authorization: Bearer "+jwtExample+".", jwtExample),
		hit("alg none", algNone),
		hit("json", `{"token":"`+jwtExample+`"}`, jwtExample),
		hit("after escape", `"x\n`+jwtExample+`"`, jwtExample),
		miss("no alg", "eyJmb28iOiJiYXIifQ.eyJzdWIiOiIxIn0.c2lnbmF0dXJl"),
		miss("two segments", "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0"),
		miss("four segments", "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.abc.def"),
		miss("random base64", "aGVsbG8gd29ybGQgdGhpcyBpcyBub3Q.YWJjZGVm.Z2hpamts"),
		miss("header not json", "eyJub3QganNvbg.eyJzdWIiOiIxIn0.c2ln"),
		miss("alg only nested", b64url(`{"x":{"alg":"HS256"}}`)+".eyJzdWIiOiIxIn0.c2ln"),
		miss("alg only a value", b64url(`{"typ":"alg"}`)+".eyJzdWIiOiIxIn0.c2ln"),
		hit("alg after escaped quote", b64url(`{"k\"":1,"alg":"HS256"}`)+".eyJzdWIiOiIxIn0.c2ln"),
		miss("bad base64", "eyJhbGciOiJIUzI1NiJ9!.eyJzdWIiOiIxIn0.c2ln"),
		miss("glued", "xeyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2ln"),
	})
}

const pemBody = "MIIEowIBAAKCAQEA0Z3VS5JJcds3xfn/ygWyF8PbnGy0AHB7MhgHcTz6sE2I2yPB\naIR4ahmyjv+zh0yLBPNw0VAKLZYpqz2KQhrjR2rSEwlJPfZc3wNyxfyDvDZ2zUmA\n"

func TestPEMPrivateKey(t *testing.T) {
	rsa := "-----BEGIN RSA PRIVATE KEY-----\n" + pemBody + "-----END RSA PRIVATE KEY-----"
	ssh := "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmU=\n-----END OPENSSH PRIVATE KEY-----"
	jsonEsc := strings.ReplaceAll(rsa, "\n", `\n`)
	runDetectorCases(t, PEMPrivateKey, []detectorCase{
		hit("rsa", rsa),
		hit("openssh", "key:\n"+ssh+"\ntrailer", ssh),
		hit("pkcs8", "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIA==\n-----END PRIVATE KEY-----"),
		hit("encrypted", "-----BEGIN ENCRYPTED PRIVATE KEY-----\nMIIF\n-----END ENCRYPTED PRIVATE KEY-----"),
		hit("pgp", "-----BEGIN PGP PRIVATE KEY BLOCK-----\n\nlQOYBF\n-----END PGP PRIVATE KEY BLOCK-----"),
		hit("json escaped", `{"key":"`+jsonEsc+`"}`, jsonEsc),
		hit("truncated", "-----BEGIN EC PRIVATE KEY-----\nMHcCAQEE"),
		hit("truncated in json", `{"k":"-----BEGIN EC PRIVATE KEY-----\nMHcC","x":1}`, `-----BEGIN EC PRIVATE KEY-----\nMHcC`),
		miss("certificate", "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----"),
		miss("public key", "-----BEGIN PUBLIC KEY-----\nMIIB\n-----END PUBLIC KEY-----"),
		miss("dashes", "----- BEGIN nothing -----"),
	})
}

func TestAPIKey(t *testing.T) {
	alnum36 := "abcdefghijABCDEFGHIJ0123456789abcdef"
	runDetectorCases(t, APIKey, []detectorCase{
		hit("aws", "AKIAIOSFODNN7EXAMPLE"),
		hit("aws sts", "ASIAY34FZKBOKMUTVV7A"),
		hit("aws in env", "AWS_ACCESS_KEY_ID=AKIAIOSFODNN7EXAMPLE", "AKIAIOSFODNN7EXAMPLE"),
		hit("github", "ghp_"+alnum36),
		hit("github oauth", "token gho_"+alnum36+".", "gho_"+alnum36),
		hit("github fine-grained", "github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ012345"),
		hit("slack", "xoxb-1234567890-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx"),
		hit("stripe", "sk_live_4eC39HqLyjWDarjtT1zdp7dc"),
		hit("stripe restricted", "rk_live_51H8abcdEFGHijklMNOPqrst"),
		hit("google", "AIzaSyA-1234567890abcdefghijklmnopqrstu"),
		hit("anthropic", "sk-ant-api03-abcdefghijklmnopqrstuvwxyz0123456789ABCD-_xyz"),
		hit("openai", "sk-proj-abc123DEF456ghi789JKL012mno345"),
		hit("openai legacy", "sk-abcdefghij1234567890ABCDEFGHIJ"),
		hit("gitlab", "glpat-xxxxxxxxxxxxxxxxxxx1"),
		hit("npm", "npm_"+alnum36),
		hit("sendgrid", "SG.abcdefghijklmnopqrstuv.abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"),
		hit("twilio", "SK0123456789abcdef0123456789abcdef"),
		hit("json", `{"k":"AKIAIOSFODNN7EXAMPLE"}`, "AKIAIOSFODNN7EXAMPLE"),
		hit("after escape", `"\nAKIAIOSFODNN7EXAMPLE"`, "AKIAIOSFODNN7EXAMPLE"),
		miss("aws short", "AKIAIOSFODNN7EXAMPL"),
		miss("aws long", "AKIAIOSFODNN7EXAMPLEX"),
		miss("aws lower", "AKIAiosfodnn7example"),
		miss("glued", "TAKIAIOSFODNN7EXAMPLE"),
		miss("github short", "ghp_short"),
		miss("package name", "sk-learn-is-a-package-name"),
		miss("slack no digit", "xoxb-abcdefghijklmnop"),
		miss("twilio upper hex", "SK0123456789ABCDEF0123456789ABCDEF"),
		miss("word", "SKIPPING-THE-ENTIRE-SECTION"),
		miss("stripe publishable", "pk_live_4eC39HqLyjWDarjtT1zdp7dc"),
	})
}

func TestSecret(t *testing.T) {
	runDetectorCases(t, Secret, []detectorCase{
		hit("password", "password=Xk9#mP2$vL8q", "Xk9#mP2$vL8q"),
		hit("weak but mixed", "password=P@ssw0rd!", "P@ssw0rd!"),
		hit("env", "DB_PASSWORD=s3cr3tP4ss!", "s3cr3tP4ss!"),
		hit("yaml", "client_secret: AbCdEf123456GhIj", "AbCdEf123456GhIj"),
		hit("json", `{"api_key": "9f86d081884c7d65"}`, "9f86d081884c7d65"),
		hit("json with spaces", `{"password":"correct Horse battery 9staple"}`, "correct Horse battery 9staple"),
		hit("json escape in value", `{"token":"ab\"cD3fGh1jK"}`, `ab\"cD3fGh1jK`),
		hit("json in json", `{"cfg":"{\"token\":\"a8F3kL9mQ2xZ7pW4\"}"}`, "a8F3kL9mQ2xZ7pW4"),
		hit("single quotes", "secret='Zq8xW2pL9vN4'", "Zq8xW2pL9vN4"),
		hit("spaces around", "api_key = 1a2b3c4d5e6f7a8b9c", "1a2b3c4d5e6f7a8b9c"),
		hit("authorization", "Authorization: Bearer abc123def456ghi789", "abc123def456ghi789"),
		hit("url", "postgres://app:s3cret@db.internal/app", "s3cret"),
		hit("suffix pwd", "db_pwd=Qw3rTy7uIo", "Qw3rTy7uIo"),
		hit("query string", "?user=bob&access_key=Q1w2E3r4T5y6&x=1", "Q1w2E3r4T5y6"),
		hit("uuid session token", "session_token=550e8400-e29b-41d4-a716-446655440000", "550e8400-e29b-41d4-a716-446655440000"),
		miss("changeme", "password=changeme"),
		miss("required", "password=required"),
		miss("short", "password=aB3$xY"),
		miss("number", "token_count=1234567890"),
		miss("timestamp", "token_expires_at=2024-01-15T10:23:45Z"),
		miss("template", "password=${DB_PASSWORD}"),
		miss("jinja", `password: "{{ vault_db_password }}"`),
		miss("masked", "password=********"),
		miss("redacted", "secret: [REDACTED:secret]"),
		miss("tokenised", "secret: tok_secret_abcdefghijklmnop"),
		miss("not a secret key", "name=Xk9#mP2$vL8q"),
		miss("empty", "password="),
		miss("no digit no case mix", "tokenizer=bert-base-uncased"),
		miss("bypass is not pass", "bypass=Xk9#mP2$vL8q"),
		miss("comparison", "password==Xk9#mP2$vL8q"),
		miss("object value", `{"secret":{"a":1}}`),
		miss("url without password", "https://user@example.com/x"),
	})
}

func b64url(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }
