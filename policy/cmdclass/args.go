package cmdclass

import "strings"

// opt is an option found in a program's arguments: "-o" or "--output"
// (as written, which for a long option may be an abbreviation), with
// its value if it takes one.
type opt struct {
	name      string
	val, val2 *value
}

// parsed are a program's arguments, split GNU style.
type parsed struct {
	opts     []opt
	operands []*value
	// unsure: an argument known only on the host could be an option.
	unsure bool
}

// optSyntax says which options take a value.
type optSyntax struct {
	short string   // short options that take a value ("o" for -o FILE, -oFILE)
	long  []string // long options that take a value ("--output" for --output FILE)
	// optional are short options whose value, if any, is attached
	// (sed -i.bak, date -Iseconds).
	optional string
	// long2 are long options that take two values (jq --arg NAME VALUE).
	long2 []string
	// posix: options end at the first operand (otherwise, GNU style,
	// options may follow operands).
	posix bool
}

// longIs reports whether a long option as written names want: GNU
// programs accept any unambiguous abbreviation, so an abbreviation of
// want is taken for it (fail closed: an ambiguous one is refused by the
// program itself).
func longIs(given, want string) bool {
	if i := strings.IndexByte(given, '='); i >= 0 {
		given = given[:i]
	}
	return given == want || (len(given) > 3 && strings.HasPrefix(want, given))
}

func (s optSyntax) takesLong(name string) bool {
	for _, l := range s.long {
		if longIs(name, l) {
			return true
		}
	}
	return false
}

func parseArgs(args []*value, s optSyntax) parsed {
	var p parsed
	for i := 0; i < len(args); i++ {
		v := args[i]
		if v.static && v.text == "--" {
			p.operands = append(p.operands, args[i+1:]...)
			break
		}
		if !v.static && v.optionLike {
			p.unsure = true
		}
		t := v.text
		switch {
		case v.static && strings.HasPrefix(t, "--"):
			o := opt{name: t}
			if j := strings.IndexByte(t, '='); j >= 0 {
				o.name, o.val = t[:j], &value{text: t[j+1:], static: true}
			} else if s.takesLong(t) && i+1 < len(args) {
				i++
				o.val = args[i]
			} else if slicesHas(s.long2, t) && i+2 < len(args) {
				o.val, o.val2 = args[i+1], args[i+2]
				i += 2
			}
			p.opts = append(p.opts, o)
		case v.static && len(t) > 1 && t[0] == '-':
			for j := 1; j < len(t); j++ {
				o := opt{name: "-" + t[j:j+1]}
				if strings.IndexByte(s.optional, t[j]) >= 0 {
					if j+1 < len(t) {
						o.val = &value{text: t[j+1:], static: true}
					}
					p.opts = append(p.opts, o)
					break
				}
				if strings.IndexByte(s.short, t[j]) >= 0 {
					if j+1 < len(t) {
						o.val = &value{text: t[j+1:], static: true}
					} else if i+1 < len(args) {
						i++
						o.val = args[i]
					}
					p.opts = append(p.opts, o)
					break
				}
				p.opts = append(p.opts, o)
			}
		default:
			if s.posix {
				p.operands = append(p.operands, args[i:]...)
				return p
			}
			p.operands = append(p.operands, v)
		}
	}
	return p
}

// has reports whether an option named one of names was given ("-o",
// "--output"); long names match abbreviations.
func (p parsed) has(names ...string) bool { return p.get(names...) != nil }

// get returns the first option named one of names.
func (p parsed) get(names ...string) *opt {
	for i := range p.opts {
		for _, n := range names {
			if p.opts[i].is(n) {
				return &p.opts[i]
			}
		}
	}
	return nil
}

func (o opt) is(name string) bool {
	if strings.HasPrefix(name, "--") {
		return strings.HasPrefix(o.name, "--") && longIs(o.name, name)
	}
	return o.name == name
}

// multiOperand reports whether an operand may stand for several
// arguments, so that the positions of those after it are unknown.
func (p parsed) multiOperand() bool {
	for _, v := range p.operands {
		if v.multi {
			return true
		}
	}
	return false
}

func slicesHas(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}
