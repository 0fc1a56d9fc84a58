package approvals

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/wardenhq/warden/audit"
	"github.com/wardenhq/warden/identity"
)

// Deciding and reading requests: the approvers' side (the HTTP API and
// pages decide and list through these), and the end of a released call.

// MaxCommentBytes bounds a decision's comment.
const MaxCommentBytes = 2000

// Decide records p's verdict (VerdictApprove or VerdictDeny) on request id.
// The requester can never decide; an approver must be in one of the
// request's approver groups, decides once, and cannot decide an expired
// or settled request. Every attempt is an audit event. Errors wrap
// ErrNotFound (also for a request p may not see), ErrForbidden or
// ErrConflict.
func (s *Service) Decide(ctx context.Context, p identity.Principal, id, verdict, comment, via string) (*Approval, error) {
	if verdict != VerdictApprove && verdict != VerdictDeny {
		return nil, fmt.Errorf("approvals: unknown verdict %q", verdict)
	}
	comment = strings.TrimSpace(comment)
	if len(comment) > MaxCommentBytes || !utf8.ValidString(comment) {
		return nil, fmt.Errorf("%w: the comment must be UTF-8 text of at most %d bytes", ErrConflict, MaxCommentBytes)
	}
	d := Decision{Approver: p.Subject, Issuer: p.Issuer, Groups: p.Groups, Verdict: verdict, Comment: comment, Time: s.o.Now().UTC(), Via: via}
	if d.Groups == nil {
		d.Groups = []string{}
	}
	a, err := s.store.Decide(ctx, id, d, func(a *Approval) error {
		if !a.Visible(p.Subject, p.Groups) {
			return ErrNotFound
		}
		return a.CanDecide(p.Subject, p.Groups)
	})
	tool := "approval." + verdict
	var expired ExpiredError
	if errors.As(err, &expired) {
		s.withURL(a)
		s.record(ctx, "approval.expire", identity.Principal{Subject: "warden"}, a, "", audit.StatusOK, "")
		s.announce(EventExpired, a, nil)
	}
	if err != nil {
		if a != nil && !errors.Is(err, ErrNotFound) {
			s.record(ctx, tool, p, a, comment, audit.StatusDenied, err.Error())
			if a.State == StateExpired {
				s.wake(id)
			}
		} else if errors.Is(err, ErrNotFound) {
			s.record(ctx, tool, p, &Approval{ID: id}, comment, audit.StatusDenied, "no such request, or not visible to "+p.Subject)
		}
		return nil, err
	}
	s.withURL(a)
	if err := s.record(ctx, tool, p, a, comment, audit.StatusOK, ""); err != nil {
		s.logger.Error("audit event for an approval decision not written", "approval", id, "err", err)
	}
	s.logger.Info("approval decision", "approval", id, "approver", p.Subject, "verdict", verdict, "state", a.State)
	kind := EventPartiallyApproved
	switch a.State {
	case StateApproved:
		kind = EventApproved
	case StateDenied:
		kind = EventDenied
	}
	s.announce(kind, a, &d)
	s.wake(id)
	return a, nil
}

// Finished implements Finisher.
func (s *Service) Finished(ctx context.Context, id string, r Result) {
	ctx = context.WithoutCancel(ctx)
	if err := s.store.Finish(ctx, id, r); err != nil {
		s.logger.Error("record the end of an approved call", "approval", id, "err", err)
		return
	}
	a, err := s.store.Get(ctx, id)
	if err != nil {
		return
	}
	s.withURL(a)
	kind := EventExecuted
	if !r.OK {
		kind = EventFailed
	}
	s.announce(kind, a, nil)
	s.wake(id)
}

// List returns the requests p may see, newest first.
func (s *Service) List(ctx context.Context, p identity.Principal, f Filter) ([]*Approval, error) {
	limit := f.Limit
	if limit <= 0 || limit > 500 {
		limit = 100
	}
	f.Limit = 1000
	all, err := s.store.List(ctx, f)
	if err != nil {
		return nil, err
	}
	now := s.o.Now()
	out := []*Approval{}
	for _, a := range all {
		if !a.Visible(p.Subject, p.Groups) {
			continue
		}
		a.settle(now)
		if len(f.States) > 0 && !containsState(f.States, a.State) {
			continue
		}
		out = append(out, s.withURL(a))
		if len(out) == limit {
			break
		}
	}
	return out, nil
}

// Show returns request id if p may see it.
func (s *Service) Show(ctx context.Context, p identity.Principal, id string) (*Approval, error) {
	a, err := s.store.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	if !a.Visible(p.Subject, p.Groups) {
		return nil, ErrNotFound
	}
	a.settle(s.o.Now())
	return s.withURL(a), nil
}

func containsState(list []State, s State) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func deniedReason(a *Approval) string {
	for _, d := range a.Decisions {
		if d.Verdict == VerdictDeny {
			r := fmt.Sprintf("approval request %s was denied by %s", a.ID, d.Approver)
			if d.Comment != "" {
				r += ": " + d.Comment
			}
			return r
		}
	}
	return fmt.Sprintf("approval request %s was denied", a.ID)
}
