package approvals

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/wardenhq/warden/audit"
	"github.com/wardenhq/warden/identity"
)

// Recorder writes audit events (audit.Store).
type Recorder interface {
	Record(ctx context.Context, e *audit.Event) error
}

// Options configure a Service.
type Options struct {
	Store    *Store
	Recorder Recorder
	// Wait is how long Hold waits for a decision (default 30s); MaxWait
	// bounds Wait calls (default 5m); TTL is a request's lifetime
	// (default 1h).
	Wait, MaxWait, TTL time.Duration
	// Approvers apply when a rule names none.
	Approvers Approvers
	// BaseURL is where people reach the approval pages
	// (https://warden.example.com), for links; empty: no links.
	BaseURL string
	// Notifier is told of every new request and decision (webhooks).
	Notifier Notifier
	Logger   *slog.Logger
	// PollInterval is how often a wait looks at the store for decisions
	// made by another Warden process (default 500ms).
	PollInterval time.Duration
	// SweepInterval is how often expired requests are marked (default 10s).
	SweepInterval time.Duration
	// Now is the clock (tests).
	Now func() time.Time
}

// Notifier hears about approval events.
type Notifier interface {
	Notify(ev Event)
}

// Event is something that happened to a request, for notifiers.
type Event struct {
	// Kind is one of requested, approved, partially_approved, denied,
	// expired, executed, failed.
	Kind     string
	Approval *Approval
	// Decision is the verdict that caused the event, if one did.
	Decision *Decision
	Time     time.Time
}

// Event kinds.
const (
	EventRequested         = "requested"
	EventApproved          = "approved"
	EventPartiallyApproved = "partially_approved"
	EventDenied            = "denied"
	EventExpired           = "expired"
	EventExecuted          = "executed"
	EventFailed            = "failed"
)

// Service is the approval workflow: the Holder of the pipeline, the
// Tracker of the approval tools, and what the HTTP API and pages decide
// through.
type Service struct {
	store    *Store
	recorder Recorder
	o        Options
	logger   *slog.Logger

	mu      sync.Mutex
	waiters map[string]map[chan struct{}]struct{}

	stop chan struct{}
	done chan struct{}
	once sync.Once
}

// New builds a Service. Start runs its expiry sweeper.
func New(o Options) (*Service, error) {
	if o.Store == nil || o.Recorder == nil {
		return nil, errors.New("approvals: a Store and a Recorder are required")
	}
	if o.Wait <= 0 {
		o.Wait = 30 * time.Second
	}
	if o.MaxWait < o.Wait {
		o.MaxWait = max(o.Wait, 5*time.Minute)
	}
	if o.TTL <= 0 {
		o.TTL = time.Hour
	}
	if o.PollInterval <= 0 {
		o.PollInterval = 500 * time.Millisecond
	}
	if o.SweepInterval <= 0 {
		o.SweepInterval = 10 * time.Second
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	o.BaseURL = strings.TrimSuffix(o.BaseURL, "/")
	return &Service{store: o.Store, recorder: o.Recorder, o: o, logger: o.Logger,
		waiters: map[string]map[chan struct{}]struct{}{}}, nil
}

// Start runs the expiry sweeper until Close.
func (s *Service) Start() {
	s.once.Do(func() {
		s.stop, s.done = make(chan struct{}), make(chan struct{})
		go s.sweep()
	})
}

// Close stops the sweeper.
func (s *Service) Close() {
	if s.stop == nil {
		return
	}
	select {
	case <-s.stop:
	default:
		close(s.stop)
	}
	<-s.done
}

func (s *Service) sweep() {
	defer close(s.done)
	t := time.NewTicker(s.o.SweepInterval)
	defer t.Stop()
	for {
		s.ExpireDue(context.Background())
		select {
		case <-s.stop:
			return
		case <-t.C:
		}
	}
}

// ExpireDue marks the requests past their expiry expired, records and
// announces it.
func (s *Service) ExpireDue(ctx context.Context) {
	expired, err := s.store.ExpireDue(ctx, s.o.Now())
	if err != nil {
		s.logger.Error("mark expired approval requests", "err", err)
	}
	for _, a := range expired {
		s.withURL(a)
		s.record(ctx, "approval.expire", identity.Principal{Subject: "warden"}, a, "", audit.StatusOK, "")
		s.announce(EventExpired, a, nil)
	}
}

// MaxWait implements Tracker.
func (s *Service) MaxWait() time.Duration { return s.o.MaxWait }

// DefaultWait is how long Hold waits unless the context says otherwise.
func (s *Service) DefaultWait() time.Duration { return s.o.Wait }

// SetBaseURL sets where people reach the approval pages, once the
// server knows its address.
func (s *Service) SetBaseURL(u string) {
	s.mu.Lock()
	s.o.BaseURL = strings.TrimSuffix(u, "/")
	s.mu.Unlock()
}

func (s *Service) withURL(a *Approval) *Approval {
	s.mu.Lock()
	base := s.o.BaseURL
	s.mu.Unlock()
	if base != "" && a != nil {
		a.URL = base + PagePrefix + a.ID
	}
	return a
}

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
	var expired expiredError
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

// record writes an audit event for something that happened to a request.
func (s *Service) record(ctx context.Context, tool string, p identity.Principal, a *Approval, comment, status, errText string) error {
	args := map[string]string{"approval_id": a.ID}
	if comment != "" {
		args["comment"] = comment
	}
	b, _ := json.Marshal(args)
	ev := &audit.Event{
		Time: s.o.Now().UTC(), Identity: p.Subject, Groups: p.Groups, Issuer: p.Issuer, TokenID: p.TokenID,
		Tool: tool, Connection: a.Connection, Arguments: b, Statement: a.Statement,
		Decision: audit.DecisionReview, Rule: a.Rule, Status: status, Error: errText, Approval: a.ID,
	}
	err := s.recorder.Record(context.WithoutCancel(ctx), ev)
	if err != nil {
		s.logger.Error("approval audit event not written", "approval", a.ID, "event", tool, "err", err)
	}
	return err
}

func (s *Service) announce(kind string, a *Approval, d *Decision) {
	if s.o.Notifier == nil {
		return
	}
	s.o.Notifier.Notify(Event{Kind: kind, Approval: a, Decision: d, Time: s.o.Now().UTC()})
}

type waitKey struct{}
type progressKey struct{}

// WithWait makes Hold wait up to d for a decision instead of the
// configured time (a call run as an MCP task waits until the request is
// decided or expires).
func WithWait(ctx context.Context, d time.Duration) context.Context {
	return context.WithValue(ctx, waitKey{}, d)
}

// ProgressFunc receives the progress of a waiting call: seconds waited,
// seconds it may wait, and a message.
type ProgressFunc func(progress, total float64, message string)

// WithProgress makes waits report progress to f.
func WithProgress(ctx context.Context, f ProgressFunc) context.Context {
	return context.WithValue(ctx, progressKey{}, f)
}

var (
	_ Holder   = (*Service)(nil)
	_ Finisher = (*Service)(nil)
	_ Tracker  = (*Service)(nil)
)
