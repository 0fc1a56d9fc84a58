package approvals

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/wardenhq/warden/audit"
	"github.com/wardenhq/warden/identity"
)

// Holding a call: find or create the request bound to it, wait for people
// to decide, release an approved request to its call once; and the
// requester's side of it (Tracker).

// Hold implements Holder: it finds the request bound to this exact call
// or creates one, waits up to the configured time (or WithWait's) for
// people to decide, and returns Approved only when an approved request
// was released to this call, once.
func (s *Service) Hold(ctx context.Context, req Request) (Outcome, error) {
	approvers := req.Approvers
	if len(approvers.Groups) == 0 {
		approvers = s.o.Approvers
	}
	approvers.Quorum = max(1, approvers.Quorum)
	if len(approvers.Groups) == 0 {
		return Outcome{Reason: fmt.Sprintf("rule %q holds %s on %q for human approval but names no approvers (approvers.groups), and approvals.approvers names none: nobody can approve it", req.Rule, req.Tool, req.Connection)}, nil
	}
	if len(req.Arguments) == 0 {
		return Outcome{Reason: fmt.Sprintf("rule %q holds %s on %q for human approval, and its arguments are too large to be held", req.Rule, req.Tool, req.Connection)}, nil
	}
	digest, err := Digest(req.Subject, req.Issuer, req.Connection, req.Tool, req.Arguments, req.PolicyVersion)
	if err != nil {
		return Outcome{}, err
	}
	a, previous, err := s.find(ctx, digest)
	if err != nil {
		return Outcome{}, err
	}
	if a != nil && a.State == StateApproved {
		return s.release(ctx, a)
	}
	if a != nil && a.State == StateDenied {
		return Outcome{ID: a.ID, Approval: s.withURL(a), Reason: deniedReason(a)}, nil
	}
	if a == nil {
		if a, err = s.create(ctx, req, approvers, digest); err != nil {
			return Outcome{}, err
		}
	}
	wait := s.o.Wait
	if d, ok := ctx.Value(waitKey{}).(time.Duration); ok && d >= 0 {
		wait = d
	}
	a, err = s.wait(ctx, a.ID, wait)
	if err != nil {
		s.logger.Error("wait for an approval decision", "approval", a.ID, "err", err)
		return Outcome{}, err
	}
	switch a.State {
	case StateApproved:
		return s.release(ctx, a)
	case StateDenied:
		return Outcome{ID: a.ID, Approval: s.withURL(a), Reason: deniedReason(a)}, nil
	case StateExpired:
		return Outcome{ID: a.ID, Approval: s.withURL(a), Reason: fmt.Sprintf("approval request %s expired at %s without a decision", a.ID, a.Expires.UTC().Format(time.RFC3339))}, nil
	}
	reason := fmt.Sprintf("held for human approval: request %s needs %d approval(s) from %s; it expires at %s",
		a.ID, a.Approvers.Quorum, strings.Join(a.Approvers.Groups, ", "), a.Expires.UTC().Format(time.RFC3339))
	if previous != nil && previous.State == StateExecuted {
		reason += fmt.Sprintf(" (the same call was approved and ran before, under request %s; an approval runs its call once)", previous.ID)
	}
	return Outcome{ID: a.ID, Approval: s.withURL(a), Reason: reason}, nil
}

// find returns the open (pending, approved) or denied request bound to
// digest, if there is one, and the newest request with that digest.
// A request whose stored call no longer hashes to its digest has been
// tampered with: it is failed, never released.
func (s *Service) find(ctx context.Context, digest string) (*Approval, *Approval, error) {
	a, err := s.store.Latest(ctx, digest)
	if errors.Is(err, ErrNotFound) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, err
	}
	a.settle(s.o.Now())
	if !a.Open() && a.State != StateDenied {
		return nil, a, nil
	}
	if a.State == StateDenied && !s.o.Now().Before(a.Expires) {
		return nil, a, nil // a denial bars the same call until the request would have expired
	}
	if d, err := Digest(a.Requester.Subject, a.Requester.Issuer, a.Connection, a.Tool, a.Arguments, a.PolicyVersion); err != nil || d != a.Digest {
		why := "the stored call no longer matches its digest (the store was changed); refused"
		s.logger.Error("approval request does not match its digest: refused", "approval", a.ID)
		if err := s.store.Fail(ctx, a.ID, why); err != nil {
			return nil, nil, err
		}
		a.State, a.Error = StateFailed, why
		s.record(ctx, "approval.fail", identity.Principal{Subject: "warden"}, a, "", audit.StatusError, why)
		s.announce(EventFailed, a, nil)
		return nil, a, nil
	}
	return a, a, nil
}

// release hands an approved request to this call, once.
func (s *Service) release(ctx context.Context, a *Approval) (Outcome, error) {
	won, err := s.store.Consume(ctx, a.ID, a.Digest, s.o.Now())
	if err != nil {
		return Outcome{}, err
	}
	if !won {
		cur, err := s.store.Get(ctx, a.ID)
		if err != nil {
			return Outcome{}, err
		}
		cur.settle(s.o.Now())
		return Outcome{ID: cur.ID, Approval: s.withURL(cur), Reason: fmt.Sprintf("approval request %s is %s: an approval runs its call once, before it expires", cur.ID, cur.State)}, nil
	}
	a.State, a.Executed = StateExecuted, s.o.Now()
	s.logger.Info("approved call released", "approval", a.ID, "identity", a.Requester.Subject, "connection", a.Connection, "tool", a.Tool)
	return Outcome{Approved: true, ID: a.ID, Approval: s.withURL(a)}, nil
}

func (s *Service) create(ctx context.Context, req Request, approvers Approvers, digest string) (*Approval, error) {
	now := s.o.Now().UTC()
	justification := req.Justification
	if justification == "" {
		var args struct {
			Justification string `json:"justification"`
		}
		json.Unmarshal(req.Arguments, &args)
		justification = args.Justification
	}
	a := &Approval{
		ID: newID(), State: StatePending, Digest: digest,
		Requester:  Requester{Subject: req.Subject, Groups: req.Groups, Issuer: req.Issuer, Session: req.Session, Transport: req.Transport},
		Connection: req.Connection, Tool: req.Tool, Arguments: append(json.RawMessage(nil), req.Arguments...),
		Statement: req.Statement, Justification: justification, Rule: req.Rule, Reason: req.Reason,
		PolicyVersion: req.PolicyVersion, Kinds: req.Kinds, TablesRead: req.TablesRead, TablesWritten: req.TablesWritten,
		Approvers: approvers, Decisions: []Decision{}, Created: now, Expires: now.Add(s.o.TTL),
	}
	if err := s.store.Create(ctx, a); err != nil {
		return nil, err
	}
	s.withURL(a)
	if err := s.record(ctx, "approval.request", identity.Principal{Subject: req.Subject, Groups: req.Groups, Issuer: req.Issuer}, a, "", audit.StatusOK, ""); err != nil {
		return nil, fmt.Errorf("approvals: record request %s: %w", a.ID, err)
	}
	s.logger.Info("call held for approval", "approval", a.ID, "identity", req.Subject, "connection", req.Connection, "tool", req.Tool, "rule", req.Rule)
	s.announce(EventRequested, a, nil)
	return a, nil
}

// Get implements Tracker.
func (s *Service) Get(ctx context.Context, subject, id string) (*Approval, error) {
	a, err := s.store.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	if a.Requester.Subject != subject {
		return nil, ErrNotFound
	}
	a.settle(s.o.Now())
	return s.withURL(a), nil
}

// Wait implements Tracker.
func (s *Service) Wait(ctx context.Context, subject, id string, d time.Duration) (*Approval, error) {
	if _, err := s.Get(ctx, subject, id); err != nil {
		return nil, err
	}
	a, err := s.wait(ctx, id, min(d, s.o.MaxWait))
	if err != nil {
		return nil, err
	}
	return s.withURL(a), nil
}

// wait returns request id once it is no longer pending, or after d, or
// when ctx ends (then as it is). It reports progress to WithProgress's
// function, so an MCP client keeps the call open.
func (s *Service) wait(ctx context.Context, id string, d time.Duration) (*Approval, error) {
	// The wait is measured on the real clock; expiry on the service's.
	start := time.Now()
	deadline := start.Add(d)
	ch := s.subscribe(id)
	defer s.unsubscribe(id, ch)
	poll := time.NewTicker(s.o.PollInterval)
	defer poll.Stop()
	progress, _ := ctx.Value(progressKey{}).(ProgressFunc)
	nextProgress := start
	var last *Approval
	for {
		a, err := s.store.Get(ctx, id)
		if err != nil {
			if ctx.Err() != nil && last != nil {
				return last, nil
			}
			return nil, err
		}
		last = a
		a.settle(s.o.Now())
		now := time.Now()
		if a.State != StatePending || !now.Before(deadline) || ctx.Err() != nil {
			return a, nil
		}
		if progress != nil && !now.Before(nextProgress) {
			progress(now.Sub(start).Seconds(), d.Seconds(), fmt.Sprintf("waiting for approval %s: %d of %d approval(s) from %s",
				a.ID, a.Approvals(), a.Approvers.Quorum, strings.Join(a.Approvers.Groups, ", ")))
			nextProgress = now.Add(progressEvery)
		}
		timer := time.NewTimer(min(deadline.Sub(now), progressEvery))
		select {
		case <-ch:
		case <-poll.C:
		case <-timer.C:
		case <-ctx.Done():
		}
		timer.Stop()
	}
}

// progressEvery is how often a waiting call reports progress.
const progressEvery = 5 * time.Second

func (s *Service) subscribe(id string) chan struct{} {
	ch := make(chan struct{}, 1)
	s.mu.Lock()
	if s.waiters[id] == nil {
		s.waiters[id] = map[chan struct{}]struct{}{}
	}
	s.waiters[id][ch] = struct{}{}
	s.mu.Unlock()
	return ch
}

func (s *Service) unsubscribe(id string, ch chan struct{}) {
	s.mu.Lock()
	delete(s.waiters[id], ch)
	if len(s.waiters[id]) == 0 {
		delete(s.waiters, id)
	}
	s.mu.Unlock()
}

func (s *Service) wake(id string) {
	s.mu.Lock()
	for ch := range s.waiters[id] {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
	s.mu.Unlock()
}

var idEncoding = base32.NewEncoding("0123456789abcdefghjkmnpqrstvwxyz").WithPadding(base32.NoPadding)

// newID returns a random request id: "apr_" and 20 characters (100 bits).
func newID() string {
	var b [12]byte
	rand.Read(b[:])
	return "apr_" + idEncoding.EncodeToString(b[:])[:20]
}
