package store

import bolt "go.etcd.io/bbolt"

// ForgetIndexesForTest turns db back into a file of the first layout:
// schema 1, with the indexes version 2 added empty and those of version 3
// absent.
func ForgetIndexesForTest(db *DB) error {
	return db.bolt.Update(func(btx *bolt.Tx) error {
		for _, name := range [][]byte{bucketResolved, bucketResolvedAt, bucketServices, bucketStorm} {
			if err := btx.DeleteBucket(name); err != nil {
				return err
			}
			if _, err := btx.CreateBucket(name); err != nil {
				return err
			}
		}
		for _, name := range [][]byte{bucketWords, bucketWordsOf} {
			if err := btx.DeleteBucket(name); err != nil {
				return err
			}
		}
		return btx.Bucket(bucketMeta).Put([]byte("schema"), []byte("1"))
	})
}
