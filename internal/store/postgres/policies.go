package postgres

import (
	"context"
	"errors"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/tollgate/tollgate/internal/store"
)

const policyColumns = `p.id, p.mid, p.org_id, p.name, p.state, p.document, p.created_at, p.updated_at`

func scanPolicy(row pgx.CollectableRow) (store.Policy, error) {
	var p store.Policy
	var c, u pgtype.Timestamptz
	if err := row.Scan(&p.ID, &p.MID, &p.OrgID, &p.Name, &p.State, &p.Document, &c, &u); err != nil {
		return store.Policy{}, err
	}
	p.CreatedAt, p.UpdatedAt = fromTS(c), fromTS(u)
	return p, nil
}

// policyIDLock serialises policy creations (pg_advisory_xact_lock), so that the
// check that neither id is any policy's id or database id cannot race: keys
// name policies by either, so the two share one namespace, which no unique
// index spans. Creations are rare; updates and reads never take it.
const policyIDLock int64 = 0x746f6c6c706f6c // "tollpol"

func setPolicyAPIs(ctx context.Context, tx pgx.Tx, id string, apiIDs []string) error {
	b := &pgx.Batch{}
	b.Queue(`DELETE FROM policy_apis WHERE policy_id = $1`, id)
	b.Queue(`INSERT INTO policy_apis (policy_id, api_id) SELECT $1, unnest($2::text[]) ON CONFLICT DO NOTHING`, id, nonNil(apiIDs))
	return writeErr("index policy apis", tx.SendBatch(ctx, b).Close())
}

// CreatePolicy inserts a policy and its API index rows.
func (d *DB) CreatePolicy(ctx context.Context, p store.Policy, apiIDs []string) error {
	return d.tx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, policyIDLock); err != nil {
			return wrap("create policy", err)
		}
		var n int
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM policies WHERE id IN ($1, $2) OR mid IN ($1, $2)`, p.ID, p.MID).Scan(&n); err != nil {
			return wrap("create policy", err)
		}
		if n > 0 {
			return store.ErrConflict
		}
		_, err := tx.Exec(ctx, `INSERT INTO policies (id, mid, org_id, name, name_fold, state, document, created_at, updated_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
			p.ID, p.MID, p.OrgID, p.Name, store.FoldAlias(p.Name), p.State, p.Document, ts(p.CreatedAt), ts(p.UpdatedAt))
		if err != nil {
			return writeErr("create policy", err)
		}
		return setPolicyAPIs(ctx, tx, p.ID, apiIDs)
	})
}

// UpdatePolicy replaces a policy's name, state and document.
func (d *DB) UpdatePolicy(ctx context.Context, p store.Policy, apiIDs []string) error {
	return d.tx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE policies SET org_id = $1, name = $2, name_fold = $3, state = $4, document = $5, updated_at = $6 WHERE id = $7`,
			p.OrgID, p.Name, store.FoldAlias(p.Name), p.State, p.Document, ts(p.UpdatedAt), p.ID)
		if err != nil {
			return writeErr("update policy", err)
		}
		if err := affectedOne(tag); err != nil {
			return err
		}
		return setPolicyAPIs(ctx, tx, p.ID, apiIDs)
	})
}

// GetPolicy returns the policy whose id or database id is id.
func (d *DB) GetPolicy(ctx context.Context, id string) (store.Policy, error) {
	if !storable(id) {
		return store.Policy{}, store.ErrNotFound
	}
	p, err := queryOne(ctx, d.pool, scanPolicy, `SELECT `+policyColumns+` FROM policies p WHERE p.id = $1 OR p.mid = $1
		ORDER BY p.id = $1 DESC LIMIT 1`, id)
	if errors.Is(err, pgx.ErrNoRows) {
		return store.Policy{}, store.ErrNotFound
	}
	if err != nil {
		return store.Policy{}, wrap("get policy", err)
	}
	return p, nil
}

// DeletePolicy removes a policy (its API index rows go with it).
func (d *DB) DeletePolicy(ctx context.Context, id string) error {
	if !storable(id) {
		return store.ErrNotFound
	}
	tag, err := d.pool.Exec(ctx, `DELETE FROM policies WHERE id = $1`, id)
	if err != nil {
		return wrap("delete policy", err)
	}
	return affectedOne(tag)
}

func policyWhere(f store.PolicyFilter, a *args) string {
	var conds []string
	for _, v := range []string{f.OrgID, f.State, f.APIID, f.Query} {
		if !storable(v) {
			return " WHERE FALSE"
		}
	}
	if f.OrgID != "" {
		conds = append(conds, "p.org_id = "+a.add(f.OrgID))
	}
	if f.State != "" {
		conds = append(conds, "p.state = "+a.add(f.State))
	}
	if f.APIID != "" {
		conds = append(conds, "EXISTS (SELECT 1 FROM policy_apis x WHERE x.policy_id = p.id AND x.api_id = "+a.add(f.APIID)+")")
	}
	if f.Query != "" {
		q := a.add(f.Query)
		conds = append(conds, "(p.id = "+q+" OR p.mid = "+q+" OR p.name_fold LIKE "+a.add("%"+escapeLike(strings.ToLower(f.Query))+"%")+")")
	}
	if len(conds) == 0 {
		return ""
	}
	return " WHERE " + strings.Join(conds, " AND ")
}

// ListPolicies returns the policies matching f, by name, ties by id.
func (d *DB) ListPolicies(ctx context.Context, f store.PolicyFilter) ([]store.Policy, error) {
	var a args
	q := `SELECT ` + policyColumns + ` FROM policies p` + policyWhere(f, &a) + ` ORDER BY p.name, p.id`
	if f.Limit > 0 {
		q += ` LIMIT ` + a.add(f.Limit) + ` OFFSET ` + a.add(max(f.Offset, 0))
	}
	out, err := queryAll(ctx, d.pool, scanPolicy, q, a...)
	if err != nil {
		return nil, wrap("list policies", err)
	}
	return out, nil
}

// CountPolicies counts the policies matching f.
func (d *DB) CountPolicies(ctx context.Context, f store.PolicyFilter) (int, error) {
	var a args
	var n int
	if err := d.pool.QueryRow(ctx, `SELECT count(*) FROM policies p`+policyWhere(f, &a), a...).Scan(&n); err != nil {
		return 0, wrap("count policies", err)
	}
	return n, nil
}
