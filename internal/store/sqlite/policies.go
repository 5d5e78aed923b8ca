package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/tollgate/tollgate/internal/store"
)

const policyColumns = `p.id, p.mid, p.org_id, p.name, p.state, p.document, p.created_at, p.updated_at`

func scanPolicy(sc interface{ Scan(...any) error }) (store.Policy, error) {
	var p store.Policy
	var c, u int64
	if err := sc.Scan(&p.ID, &p.MID, &p.OrgID, &p.Name, &p.State, &p.Document, &c, &u); err != nil {
		return p, err
	}
	p.CreatedAt, p.UpdatedAt = fromTS(c), fromTS(u)
	return p, nil
}

// idTaken reports whether id or mid is already some policy's id or database id
// (other than the policy self): keys name policies by either, so the two share
// one namespace.
func idTaken(ctx context.Context, tx *sql.Tx, self string, ids ...string) (bool, error) {
	for _, id := range ids {
		var n int
		err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM policies WHERE (id = ? OR mid = ?) AND id != ?`, id, id, self).Scan(&n)
		if err != nil {
			return false, err
		}
		if n > 0 {
			return true, nil
		}
	}
	return false, nil
}

func insertPolicyAPIs(ctx context.Context, tx *sql.Tx, id string, apiIDs []string) error {
	if _, err := tx.ExecContext(ctx, `DELETE FROM policy_apis WHERE policy_id = ?`, id); err != nil {
		return fmt.Errorf("index policy apis: %w", err)
	}
	for _, api := range apiIDs {
		if _, err := tx.ExecContext(ctx, `INSERT OR IGNORE INTO policy_apis (policy_id, api_id) VALUES (?, ?)`, id, api); err != nil {
			return fmt.Errorf("index policy apis: %w", err)
		}
	}
	return nil
}

// CreatePolicy inserts a policy and its API index rows.
func (d *DB) CreatePolicy(ctx context.Context, p store.Policy, apiIDs []string) error {
	return d.tx(ctx, func(tx *sql.Tx) error {
		taken, err := idTaken(ctx, tx, "", p.ID, p.MID)
		if err != nil {
			return fmt.Errorf("create policy: %w", err)
		}
		if taken {
			return store.ErrConflict
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO policies (id, mid, org_id, name, name_fold, state, document, created_at, updated_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			p.ID, p.MID, p.OrgID, p.Name, store.FoldAlias(p.Name), p.State, p.Document, ts(p.CreatedAt), ts(p.UpdatedAt))
		if err != nil {
			return writeErr("create policy", err)
		}
		return insertPolicyAPIs(ctx, tx, p.ID, apiIDs)
	})
}

// UpdatePolicy replaces a policy's name, state and document.
func (d *DB) UpdatePolicy(ctx context.Context, p store.Policy, apiIDs []string) error {
	return d.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE policies SET org_id = ?, name = ?, name_fold = ?, state = ?, document = ?, updated_at = ? WHERE id = ?`,
			p.OrgID, p.Name, store.FoldAlias(p.Name), p.State, p.Document, ts(p.UpdatedAt), p.ID)
		if err != nil {
			return writeErr("update policy", err)
		}
		if err := affectedOne(res); err != nil {
			return err
		}
		return insertPolicyAPIs(ctx, tx, p.ID, apiIDs)
	})
}

// GetPolicy returns the policy whose id or database id is id.
func (d *DB) GetPolicy(ctx context.Context, id string) (store.Policy, error) {
	p, err := scanPolicy(d.db.QueryRowContext(ctx, `SELECT `+policyColumns+` FROM policies p WHERE p.id = ? OR p.mid = ?
		ORDER BY p.id = ? DESC LIMIT 1`, id, id, id))
	if errors.Is(err, sql.ErrNoRows) {
		return store.Policy{}, store.ErrNotFound
	}
	if err != nil {
		return store.Policy{}, fmt.Errorf("get policy: %w", err)
	}
	return p, nil
}

// DeletePolicy removes a policy (its API index rows go with it).
func (d *DB) DeletePolicy(ctx context.Context, id string) error {
	res, err := d.db.ExecContext(ctx, `DELETE FROM policies WHERE id = ?`, id)
	if err != nil {
		return fmt.Errorf("delete policy: %w", err)
	}
	return affectedOne(res)
}

func policyWhere(f store.PolicyFilter) (string, []any) {
	var conds []string
	var args []any
	if f.OrgID != "" {
		conds = append(conds, "p.org_id = ?")
		args = append(args, f.OrgID)
	}
	if f.State != "" {
		conds = append(conds, "p.state = ?")
		args = append(args, f.State)
	}
	if f.APIID != "" {
		conds = append(conds, "EXISTS (SELECT 1 FROM policy_apis a WHERE a.policy_id = p.id AND a.api_id = ?)")
		args = append(args, f.APIID)
	}
	if f.Query != "" {
		q := strings.ToLower(f.Query)
		if strings.IndexByte(q, 0) >= 0 {
			conds = append(conds, "FALSE")
		} else {
			conds = append(conds, `(p.id = ? OR p.mid = ? OR p.name_fold LIKE ? ESCAPE '\')`)
			args = append(args, f.Query, f.Query, "%"+escapeLike(q)+"%")
		}
	}
	if len(conds) == 0 {
		return "", nil
	}
	return " WHERE " + strings.Join(conds, " AND "), args
}

// ListPolicies returns the policies matching f, by name, ties by id.
func (d *DB) ListPolicies(ctx context.Context, f store.PolicyFilter) ([]store.Policy, error) {
	where, args := policyWhere(f)
	q := `SELECT ` + policyColumns + ` FROM policies p` + where + ` ORDER BY p.name, p.id`
	if f.Limit > 0 {
		q += ` LIMIT ? OFFSET ?`
		args = append(args, f.Limit, max(f.Offset, 0))
	}
	rows, err := d.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("list policies: %w", err)
	}
	defer rows.Close()
	var out []store.Policy
	for rows.Next() {
		p, err := scanPolicy(rows)
		if err != nil {
			return nil, fmt.Errorf("list policies: %w", err)
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

// CountPolicies counts the policies matching f.
func (d *DB) CountPolicies(ctx context.Context, f store.PolicyFilter) (int, error) {
	where, args := policyWhere(f)
	var n int
	if err := d.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM policies p`+where, args...).Scan(&n); err != nil {
		return 0, fmt.Errorf("count policies: %w", err)
	}
	return n, nil
}
