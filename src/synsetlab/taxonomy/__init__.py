"""The WordNet 3.0 noun hierarchy, the ILSVRC-2012 class lists, and class selection.

>>> from synsetlab.taxonomy import Taxonomy
>>> wn = Taxonomy.wordnet()
>>> wn.get("n01530575").name
'brambling'
>>> wn.lowest_common_ancestor("n01530575", "n01531178")
'n01529672'
"""

from synsetlab.taxonomy.custom import CLASS_ID_PATTERN, CustomClass, validate_class_id
from synsetlab.taxonomy.errors import (
    AmbiguousNameError,
    InvalidClassError,
    TaxonomyError,
    UnknownSynsetError,
)
from synsetlab.taxonomy.ilsvrc import (
    ilsvrc2012_id_to_index,
    ilsvrc2012_id_to_wnid,
    ilsvrc2012_index_to_id,
    ilsvrc2012_wnids,
)
from synsetlab.taxonomy.selection import SelectionError, find_overlaps, select_classes
from synsetlab.taxonomy.synset import ROOT_WNID, WNID_PATTERN, Synset, normalize_lemma
from synsetlab.taxonomy.wordnet import Taxonomy

__all__ = [
    "CLASS_ID_PATTERN",
    "ROOT_WNID",
    "WNID_PATTERN",
    "AmbiguousNameError",
    "CustomClass",
    "InvalidClassError",
    "SelectionError",
    "Synset",
    "Taxonomy",
    "TaxonomyError",
    "UnknownSynsetError",
    "find_overlaps",
    "ilsvrc2012_id_to_index",
    "ilsvrc2012_id_to_wnid",
    "ilsvrc2012_index_to_id",
    "ilsvrc2012_wnids",
    "normalize_lemma",
    "select_classes",
    "validate_class_id",
]
