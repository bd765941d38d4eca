/* placeholder: this module is not written yet */
