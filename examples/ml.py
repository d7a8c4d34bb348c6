"""A machine-learning workflow in three tasks: get data -> preprocess -> train.

Run it with `make demo` (or `python ml.py` from this folder). Outputs are saved in examples/data/.

Nothing is reset at the start, on purpose: run the script a second time and every task is already
COMPLETE, so nothing reruns - that is the point of d6tflow. To start from scratch, delete
examples/data/ or call d6tflow.invalidate_upstream(TaskTrain(), confirm=False).
"""

import sklearn.datasets
import sklearn.linear_model
import sklearn.preprocessing

import d6tflow

d6tflow.set_dir("data")  # relative to the current folder: examples/data/


class TaskGetData(d6tflow.tasks.TaskPqPandas):  # output saved as parquet, loaded as a DataFrame
    def run(self):
        # The breast cancer dataset ships inside scikit-learn: no download needed.
        df = sklearn.datasets.load_breast_cancer(as_frame=True).frame
        self.save(df.rename(columns={"target": "y"}))


@d6tflow.requires(TaskGetData)  # TaskPreprocess depends on TaskGetData
class TaskPreprocess(d6tflow.tasks.TaskPqPandas):
    do_preprocess = d6tflow.BoolParameter(default=True)  # a parameter: scale the features or not

    def run(self):
        df = self.inputLoad()  # the output of TaskGetData
        if self.do_preprocess:
            features = df.columns.drop("y")
            df[features] = sklearn.preprocessing.StandardScaler().fit_transform(df[features])
        self.save(df)


@d6tflow.requires(TaskPreprocess)  # also inherits do_preprocess and passes it upstream
class TaskTrain(d6tflow.tasks.TaskPickle):  # output saved as a pickle: any python object
    def run(self):
        df = self.inputLoad()
        X, y = df.drop(columns="y"), df["y"]
        model = sklearn.linear_model.LogisticRegression(max_iter=5000)
        model.fit(X, y)
        self.save(model)
        self.metaSave({"score": model.score(X, y)})  # small metadata saved next to the output


# Which tasks would run? Nothing has run yet, so all three are PENDING (on a rerun: COMPLETE).
d6tflow.preview(TaskTrain())

# Run the model training, and first whatever it depends on.
d6tflow.run(TaskTrain())

# Load saved outputs with one call each: the model, the training data, the metadata.
model = TaskTrain().outputLoad()
df = TaskPreprocess().outputLoad()
print("accuracy (model on training data):", model.score(df.drop(columns="y"), df["y"]))
print("accuracy (saved metadata):       ", TaskTrain().outputLoadMeta()["score"])

# Change a parameter: a new TaskPreprocess and TaskTrain are needed, but TaskGetData does not use
# do_preprocess, so its saved output is reused.
d6tflow.preview(TaskTrain(do_preprocess=False))
print(
    "With do_preprocess=False, TaskGetData is COMPLETE: its saved output is reused.\n"
    "TaskPreprocess and TaskTrain are PENDING: d6tflow.run(TaskTrain(do_preprocess=False))\n"
    "would run only those two."
)
